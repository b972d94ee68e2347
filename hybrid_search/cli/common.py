"""What every command family shares: the context object, one-line failures and option decorators."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from hybrid_search import HybridError
from hybrid_search.config import EsSettings, Paths
from hybrid_search.data.predictions import CSN_MAX_ROWS_PER_QUERY

RESUMABLE = {"index", "train"}  # commands that pick up where an interrupted run stopped


class HybridGroup(click.Group):
    """Reports expected failures as one line on stderr with a non-zero exit code, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            # Imported here, inside the `try`: loading the client takes a moment, and a Ctrl-C meanwhile must be
            # the same one line as later (click's own "Aborted!" otherwise).
            from elasticsearch import ApiError, TransportError

            from hybrid_search.es.errors import describe_es_error

            return super().invoke(ctx)
        except KeyboardInterrupt:  # first: the names below may not be imported yet
            resumable = ctx.invoked_subcommand in RESUMABLE
            fail("interrupted" + ("; re-run the same command to resume" if resumable else ""), code=130)
        except HybridError as exc:
            fail(str(exc))
        except (TransportError, ApiError) as exc:
            obj = ctx.obj
            url = obj.settings.url if obj and "settings" in vars(obj) else "the cluster"
            fail(describe_es_error(exc, url, midway=True))
        except OSError as exc:  # an output file or folder that cannot be written, a disk that is full
            fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))


def fail(message: str, code: int = 1):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class Context:
    """The global options, with the settings, paths and client made on first use."""

    def __init__(self, es_url: str | None, index: str, index_given: bool = False):
        self.es_url, self.index = es_url, index
        self.index_given = index_given  # named by --index or HYBRID_INDEX, not the default

    @functools.cached_property
    def settings(self) -> EsSettings:
        """Read on first use, so that commands without a cluster never need the config file."""
        return EsSettings.from_env(self.es_url)

    @functools.cached_property
    def paths(self) -> Paths:
        return Paths.from_env()

    def client(self, request_timeout: float = 60.0):
        from hybrid_search.es.client import connect

        return connect(self.settings, request_timeout=request_timeout)

    def require_index(self, client, index: str | None = None) -> str:
        index = index or self.index
        if not client.indices.exists(index=index):
            raise HybridError(
                f"index or alias '{index}' not found at {self.settings.url}; build it with `hybrid index`"
            )
        return index


def resolve_data(data: Path | None) -> Path:
    from hybrid_search.config import default_data_dir

    data = data or default_data_dir()
    if data is None:
        raise HybridError("no data folder: pass --data DIR or set HYBRID_DATA (see `hybrid data download`)")
    if not data.exists():
        raise HybridError(f"data folder not found: {data}")
    return data


def index_option(function):
    """`--index NAME` after the command too (`hybrid search "..." --index NAME`), as the group's `--index`."""

    def set_index(ctx: click.Context, param, value: str | None):
        if value is not None:
            from hybrid_search.es.indexing import validate_name

            ctx.obj.index, ctx.obj.index_given = validate_name(value), True

    return click.option(
        "--index",
        "index_override",
        default=None,
        metavar="NAME",
        expose_value=False,
        callback=set_index,
        help="Alias to use (the same as `hybrid --index NAME ...`).",
    )(function)


def real_queries_option(function):
    """`--real-queries DIR` / `--no-real-queries`: the real-query validation folder (pipeline/realq.py)."""
    function = click.option(
        "--no-real-queries", "no_real_queries", is_flag=True, help="Leave the real-query validation out."
    )(function)
    return click.option(
        "--real-queries",
        type=click.Path(path_type=Path),
        default=None,
        metavar="DIR",
        help="Real queries with judged functions (queries.csv, annotationStore.csv, corpus/), a second validation "
        "signal, never trained on. Default: $HYBRID_REAL_QUERIES (empty: none), else ../shared/cosqa-valid "
        "when present.",
    )(function)


def resolve_real_queries(folder: Path | None, off: bool):
    """The real queries of --real-queries, else of the default folder; None with --no-real-queries or no folder."""
    from hybrid_search.config import default_real_queries_dir

    folder = None if off else folder or default_real_queries_dir()
    if folder is None:
        return None
    from hybrid_search.pipeline.realq import load_real_queries

    return load_real_queries(folder)


def comma_list(value: str | None) -> list[str] | None:
    """'a, b,c' -> ['a', 'b', 'c']: the one way lists are passed (None when not given)."""
    return [item.strip() for item in value.split(",") if item.strip()] if value else None


data_option = click.option(
    "--data",
    type=click.Path(path_type=Path),
    envvar="HYBRID_DATA",
    default=None,
    help="Data folder: corpus/*.jsonl.gz (or official CSN files), queries.csv, annotationStore.csv. "
    "Default: $HYBRID_DATA, else ../shared/csn-python when present.",
)
progress_option = click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Progress bars on stderr."
)
seed_option = click.option("--seed", default=13, show_default=True, help="Seed of the valid query sample.")
write_option = click.option(
    "--write/--no-write", default=True, show_default=True, help="Save the choice for the alias (see `hybrid tune`)."
)
valid_index_option = click.option(
    "--valid-index",
    default=None,
    help="Index holding the valid partition for the protocol [default: <alias>-valid]; rebuilt when stale.",
)


def k_option(default: int, help: str):
    """`-k`, bounded by the rows per query CodeSearchNet's evaluator reads."""
    return click.option(
        "-k", "k", type=click.IntRange(1, CSN_MAX_ROWS_PER_QUERY), default=default, show_default=True, help=help
    )


def encoder_option(help: str, default: str | None = None):
    """`--encoder NAME|PATH`: a trained encoder, by name (models folder) or path."""
    return click.option("--encoder", default=default, metavar="NAME|PATH", show_default=bool(default), help=help)


def docstrings_option(what: str, default: str = "the model's own setting, see docs/encoder.md"):
    """`--read-docstrings/--code-only`: whether an encoder's code side reads each function's docstring."""
    return click.option(
        "--read-docstrings/--code-only",
        "reads_docstring",
        default=None,
        help=f"{what} reads each function's docstring before its code, or its name and code only [default: {default}].",
    )


def queries_option(default: int, maximum: int, help: str):
    """`--queries N`: how many valid queries a tuner samples."""
    return click.option(
        "--queries", "n_queries", type=click.IntRange(10, maximum), default=default, show_default=True, help=help
    )
