"""The `hybrid` group: global options, and the command families registered on it (one module each).

Heavy modules (torch, spaCy, the web app) are imported inside the commands, so `hybrid --help` is instant.
"""

from __future__ import annotations

import click

from hybrid_search import __version__
from hybrid_search.cli import agent, data, evaluate, index, node, search, train, tune
from hybrid_search.cli.common import Context, HybridGroup
from hybrid_search.config import DEFAULT_INDEX


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
    help="Alias to build, tune and search [env HYBRID_INDEX].",
)
@click.pass_context
def cli(ctx: click.Context, es_url: str | None, index: str):
    """Hybrid semantic code search for Python functions on Elasticsearch.

    \b
    Typical session:
      hybrid es up          # install (once) and start a local Elasticsearch 8.12.2
      hybrid train          # train the first-stage encoder (once)
      hybrid index --encoder nbow   # index the corpus behind the alias
      hybrid search "read a csv file into a dataframe"
      hybrid eval           # NDCG on the 99 CodeSearchNet queries, per mode
      hybrid index --source ~/src/myproject   # your own code, behind the alias `myproject`
      hybrid search "..." --index myproject
      hybrid mcp ~/src/myproject   # the same for a coding agent (MCP, docs/agents.md)
    """
    from hybrid_search.es.indexing import validate_name

    given = ctx.get_parameter_source("index") not in (None, click.core.ParameterSource.DEFAULT)
    ctx.obj = Context(es_url, validate_name(index), index_given=given)


for family in (node, data, index, search, agent, evaluate, tune, train):
    family.register(cli)
