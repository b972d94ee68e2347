"""`hybrid mcp`: code search for coding agents over the Model Context Protocol (stdio), with the official SDK.

On start each folder's index is built or brought up to date (`hybrid index --source`, incremental), then kept
current while the server runs (`--watch`'s machinery, one thread per folder). Tools: `search`, `find_related`
and `index_status`, with the typed results of agent/schema.py.

- stdout carries the protocol only: the SDK points fd 1 at stderr while it serves, the sync runs without
  progress bars, and logs go to stderr;
- a tool waits for a folder's sync in progress (so that an edit already seen is searchable), and runs a first
  sync that failed before (Elasticsearch was down) again;
- every failure is a tool error of one line (no Elasticsearch, unknown path, empty query, bad arguments);
  the server itself keeps running;
- nothing leaves the machine: the index lives in the Elasticsearch of HYBRID_ES_URL (local by default).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from elasticsearch import ApiError, TransportError
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field, ValidationError

from hybrid_search import HybridError, __version__
from hybrid_search.agent.folders import Folder, folder_of_root
from hybrid_search.agent.schema import SNIPPET_LINES, FolderStatus, RelatedOut, SearchOut, Skipped, StatusOut
from hybrid_search.agent.search import MAX_K, Searcher
from hybrid_search.config import EsSettings, Paths
from hybrid_search.es.client import connect
from hybrid_search.es.errors import describe_es_error

log = logging.getLogger("hybrid_search.agent")

# How long a tool waits for a sync in progress before saying the folder is being indexed: under the 60 s a client
# such as Codex gives a tool call by default, so that the agent reads our line rather than a timeout.
WAIT_FOR_SYNC_S = 45.0
SEARCH_TIMEOUT_S = 15.0  # one Elasticsearch request of a tool (a search of a local index takes milliseconds)
DEBOUNCE_MS = 300
WATCH_RETRY_S = 5.0  # pause before watching a folder again after its watch ended on an error, doubled up to
WATCH_RETRY_MAX_S = 120.0  # changes closer than this are one update: an agent's edit is searchable well within a second
MAX_SKIPPED_SHOWN = 50

Mode = Literal["baseline", "lexical", "dense", "hybrid", "rerank"]


@dataclass
class FolderState:
    """One folder served: its index's last update, and the lock that lets one sync run at a time."""

    folder: Folder
    lock: threading.Lock = field(default_factory=threading.Lock)
    encoder: Any = None  # chosen on the first successful sync (pipeline/source.py `choose_encoder`)
    encoder_chosen: bool = False
    report: Any = None  # the last SyncReport
    synced_at: datetime | None = None
    error: str | None = None
    watching: bool = False


class Workspace:
    """The folders one server keeps indexed and searches as one."""

    def __init__(self, settings: EsSettings, paths: Paths, folders: list[Folder], encoder_name: str | None = None):
        self.settings, self.paths, self.encoder_name = settings, paths, encoder_name
        # No check at start: the server must come up and answer (with one-line errors) while Elasticsearch is down.
        # Writes get the time a bulk request of a first build needs; searches answer or fail within a tool call's
        # time (a node that hangs must not hold the agent for minutes).
        self.client = connect(settings, request_timeout=120, check=False, max_retries=1)
        search_client = connect(settings, request_timeout=SEARCH_TIMEOUT_S, check=False, max_retries=0)
        self.states = [FolderState(folder) for folder in folders]
        self.searcher = Searcher(search_client, folders, paths)
        self.stop = threading.Event()

    # ------------------------------------------------------------ keeping the indices current

    def _sync_locked(self, state: FolderState):
        """Bring the folder's index up to date (the caller holds `state.lock`); errors as one HybridError line."""
        from hybrid_search.pipeline.source import choose_encoder, sync_source

        folder = state.folder
        try:
            if not state.encoder_chosen:
                state.encoder = choose_encoder(self.client, folder.name, self.encoder_name, models=self.paths.models)
                state.encoder_chosen = True
            report = sync_source(self.client, folder.root, folder.name, encoder=state.encoder, progress=False)
        except Exception as exc:  # noqa: BLE001 - recorded for index_status, then one line for the caller
            state.error = one_line(exc, self.settings.url, folder.name)
            raise HybridError(state.error) from None
        state.report, state.synced_at, state.error = report, datetime.now(UTC), None
        log.info("%s: %s", folder.name, change_summary(report))
        return report

    def sync(self, state: FolderState):
        with state.lock:
            return self._sync_locked(state)

    def sync_quietly(self, state: FolderState):
        """A sync whose failure is logged and recorded, never raised (the watcher and the start-up thread)."""
        try:
            return self.sync(state)
        except HybridError as exc:
            log.warning("%s: update failed: %s", state.folder.name, exc)
            return None

    def current(self, wait_s: float = WAIT_FOR_SYNC_S) -> None:
        """Before a tool runs: wait for any sync in progress; run again a first sync that failed."""
        deadline = time.monotonic() + wait_s  # one wait for all the folders, not one per folder
        for state in self.states:
            if not state.lock.acquire(timeout=max(deadline - time.monotonic(), 0.01)):
                raise HybridError(
                    f"{state.folder.name}: still indexing {state.folder.root} after {wait_s:.0f} s; try again shortly"
                )
            try:
                if state.synced_at is None or state.error:
                    self._sync_locked(state)
            finally:
                state.lock.release()

    def start(self) -> None:
        """The first syncs, then one watcher per folder, in daemon threads (the protocol is served meanwhile)."""
        threading.Thread(target=self._start_all, name="hybrid-sync", daemon=True).start()

    def _start_all(self) -> None:
        # Watchers first: a change made while the first sync reads the folder then triggers another one (it waits
        # for the lock), instead of going unseen until the next change.
        for state in self.states:
            threading.Thread(target=self._watch, args=(state,), name=f"watch-{state.folder.name}", daemon=True).start()
        started = time.monotonic()
        for state in self.states:
            self.sync_quietly(state)
        log.info("start-up sync done in %.1f s", time.monotonic() - started)
        try:
            self.searcher.warm_up()
        except Exception as exc:  # noqa: BLE001 - a tool call will say what is wrong, in one line
            log.warning("models not loaded in advance: %s", one_line(exc, self.settings.url))

    def _watch(self, state: FolderState) -> None:
        """Index each change of the folder until the server stops. A sync that fails (Elasticsearch down) is
        recorded and raised; if it ends the watch, the folder is watched again after a pause, and the next tool
        call syncs first (`current`), so a change made during an outage is not lost."""
        from hybrid_search.pipeline.watch import watch_source

        state.watching, pause = True, WATCH_RETRY_S
        try:
            while not self.stop.is_set():
                try:
                    watch_source(
                        state.folder.root,
                        lambda: self.sync(state),
                        lambda report: None,  # logged by the sync itself
                        debounce_ms=DEBOUNCE_MS,
                        stop_event=self.stop,
                    )
                except Exception as exc:  # noqa: BLE001 - said in one line; the watch resumes
                    log.warning("%s: watching again in %.0f s: %s", state.folder.name, pause, one_line(exc, ""))
                    self.stop.wait(pause)
                    pause = min(pause * 2, WATCH_RETRY_MAX_S)  # a folder that is gone: not a line every 5 s
        finally:
            state.watching = False

    # ------------------------------------------------------------ the tools' bodies

    def search(self, query: str, k: int, mode: str | None, path: str | None) -> SearchOut:
        self.current()
        return self.searcher.search(query, k=k, mode=mode, path=path, snippet_lines=SNIPPET_LINES)

    def related(self, path: str, line: int, k: int) -> RelatedOut:
        self.current()
        return self.searcher.related(path, line, k=k, snippet_lines=SNIPPET_LINES)

    def status(self) -> StatusOut:
        return StatusOut(elasticsearch=self.settings.url, folders=[self.folder_status(s) for s in self.states])

    def folder_status(self, state: FolderState) -> FolderStatus:
        from hybrid_search.es.indexing import aliased_index, index_meta
        from hybrid_search.retrieval import available_modes

        report, folder = state.report, state.folder
        index, units, encoder, modes, error = None, 0, None, [], state.error
        try:
            client = self.searcher.client
            index = aliased_index(client, folder.name)
            if index:
                units = client.count(index=index)["count"]
                encoder = index_meta(client, index).get("encoder")
                modes = available_modes(client, folder.name, paths=self.paths)
        except (TransportError, ApiError) as exc:
            error = one_line(exc, self.settings.url, folder.name)
        skipped = skipped_files(report) if report else []
        return FolderStatus(
            name=folder.name,
            root=str(folder.root),
            index=index,
            units=units,
            files=report.files if report else 0,
            last_update=state.synced_at.isoformat(timespec="seconds") if state.synced_at else None,
            last_change=change_summary(report) if report else "not indexed yet",
            encoder=encoder,
            modes=modes,
            watching=state.watching,
            skipped=skipped[:MAX_SKIPPED_SHOWN],
            skipped_total=len(skipped),
            error=error,
        )


def change_summary(report) -> str:
    built = f"built {report.index}: " if report.created else ""
    return (
        f"{built}{report.added} added, {report.updated} updated, {report.deleted} deleted, "
        f"{report.unchanged} unchanged ({report.read} files read, {report.seconds:.1f} s)"
    )


def skipped_files(report) -> list[Skipped]:
    walked = report.walk
    skipped = [Skipped(path=p, reason="binary") for p in walked.binary]
    skipped += [Skipped(path=p, reason="over 1 MB") for p in walked.huge]
    skipped += [Skipped(path=p, reason="unreadable") for p in walked.unreadable]
    for failure in report.failures:  # `path:line: message`
        path, _, rest = failure.partition(":")
        skipped.append(Skipped(path=path, reason=f"does not parse (line {rest.strip()}); its last indexed units kept"))
    return skipped


def one_line(exc: Exception, url: str, index: str | None = None) -> str:
    """An exception as the one line a tool error or a log shows."""
    text = describe_es_error(exc, url, index) if isinstance(exc, (TransportError, ApiError)) else None
    text = text or str(exc) or type(exc).__name__
    return " ".join(text.split())


# ---------------------------------------------------------------- the MCP server


class OneLineErrors(MCPServer):
    """Argument validation errors as one line naming the fields, like every other tool error here."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context=None):
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.__cause__.errors()
                )
                raise ToolError(f"bad arguments for {name}: {problems}") from None
            if isinstance(exc.__cause__, ToolError):  # ours, already one line: without the SDK's long prefix
                raise ToolError(f"{name}: {exc.__cause__}") from None
            raise


def tool_errors(body: Callable[[], BaseModel], url: str) -> CallToolResult:
    """Run a tool's body; what it knows can fail comes back as a one-line ToolError.

    The answer goes out as structured content (checked against the published schema by the SDK) and as
    compact JSON text for clients that read only text (the SDK's own text is indented: 13-16% more characters
    on ten results of this project's code)."""
    try:
        answer = body()
    except HybridError as exc:
        raise ToolError(one_line(exc, url)) from None
    except (TransportError, ApiError) as exc:
        raise ToolError(one_line(exc, url)) from None
    return CallToolResult(
        content=[TextContent(type="text", text=answer.model_dump_json())],
        structured_content=answer.model_dump(mode="json"),
    )


INSTRUCTIONS = """\
Semantic code search over {folders}, kept current as files change (your own edits included).
Use `search` to find where something is implemented (a question in words or an identifier), `find_related`
for code similar to a location (other implementations, callers' siblings, tests of the same thing), and
`index_status` when results look stale or a tool reports an error. Results give file, line span and a short
snippet: open the file at those lines for the rest."""


def build_server(workspace: Workspace) -> MCPServer:
    @asynccontextmanager
    async def lifespan(_server) -> AsyncIterator[None]:
        workspace.start()  # inside the stdio transport: fd 1 already points at stderr for stray output
        try:
            yield
        finally:
            workspace.stop.set()

    names = ", ".join(f"{s.folder.name} ({s.folder.root})" for s in workspace.states)
    server = OneLineErrors(
        "hybrid-search",
        version=__version__,
        instructions=INSTRUCTIONS.format(folders=names),
        lifespan=lifespan,
        log_level="WARNING",
    )
    url = workspace.settings.url

    @server.tool()
    def search(
        query: Annotated[str, Field(description="What to find: words (`retry a failed request`) or an identifier.")],
        k: Annotated[int, Field(ge=1, le=MAX_K, description="How many units to return.")] = 10,
        mode: Annotated[
            Mode | None, Field(description="Ranking; default: hybrid when the index has vectors, else lexical.")
        ] = None,
        path: Annotated[
            str | None, Field(description="Only units under this file or folder (absolute, or relative to a folder).")
        ] = None,
    ) -> Annotated[CallToolResult, SearchOut]:
        """Search the code of the served folders; the best units (functions, methods, classes, module code) first,
        each with folder, file, line span, kind, qualified name, score and its first lines."""
        return tool_errors(lambda: workspace.search(query, k, mode, path), url)

    @server.tool()
    def find_related(
        path: Annotated[str, Field(description="A file in a served folder (absolute, or relative to the folder).")],
        line: Annotated[int, Field(ge=1, description="A line of that file; the unit holding it is the target.")],
        k: Annotated[int, Field(ge=1, le=MAX_K, description="How many units to return.")] = 10,
    ) -> Annotated[CallToolResult, RelatedOut]:
        """Units similar to the function, method or class at path:line (by text, and by vector where the index has
        vectors), the unit itself left out: other implementations of the same idea, siblings, its tests."""
        return tool_errors(lambda: workspace.related(path, line, k), url)

    @server.tool()
    def index_status() -> Annotated[CallToolResult, StatusOut]:
        """Each folder: its index, units, last update and what it changed, encoder, modes, skipped files and why,
        and the last error if an update failed."""
        return tool_errors(workspace.status, url)

    return server


def serve(
    roots: list[Path], names: list[str] | None, settings: EsSettings, paths: Paths, encoder: str | None = None
) -> None:
    """Serve the folders over stdio until the client closes the connection."""
    folders = [folder_of_root(name, root) for name, root in zip(folder_names(roots, names), roots)]
    build_server(Workspace(settings, paths, folders, encoder)).run()


def folder_names(roots: list[Path], names: list[str] | None) -> list[str]:
    """The alias of each folder: given, else its name (pipeline/source.py `default_alias`), made unique."""
    from hybrid_search.es.indexing import validate_name
    from hybrid_search.pipeline.source import default_alias

    if names is not None:
        if len(names) != len(roots):
            raise HybridError(f"--index names {len(names)} aliases for {len(roots)} folders; give one per folder")
        chosen = [validate_name(name) for name in names]
    else:
        chosen = []
        for root in roots:
            name, n = default_alias(root), 2
            while name in chosen:
                name, n = f"{default_alias(root)}-{n}", n + 1
            chosen.append(name)
    if len(set(chosen)) != len(chosen):
        raise HybridError(f"two folders would share one index: {', '.join(chosen)}")
    return chosen
