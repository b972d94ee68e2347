"""The FastAPI app: the search page (server-rendered HTML) at `/` and the JSON API at `/api/search`.

Errors: a wrong request is 400 (unavailable mode) or 422 (failed validation) with `{"error": ...}`;
Elasticsearch down or the index missing is 503, as JSON on the API and as a message on the page; too many
searches at once is 429 (web/gate.py). Searches run in worker threads of their own, behind those gates.

Only the Host names the server was started for are answered (loopback names, `--host`, `--allow-host`): a page
of another origin whose name was made to resolve to 127.0.0.1 (DNS rebinding) would otherwise read the
user's indexed code through the browser. The page's own URLs are root-relative, never built from the Host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from hybrid_search import __version__
from hybrid_search.config import DEFAULT_INDEX, EsSettings, Paths
from hybrid_search.retrieval.base import MODES
from hybrid_search.web.gate import Busy, Gates, Limits
from hybrid_search.web.highlight import code_css, mark, render_code, safe_href, where
from hybrid_search.web.schemas import ErrorOut, SearchOut, search_out
from hybrid_search.web.service import (
    MAX_K,
    MAX_QUERY_CHARS,
    BadRequest,
    InvalidParameter,
    SearchService,
    Unavailable,
)

HERE = Path(__file__).parent
# Scripts and styles from this server's own files only: no inline script, handler or style, no plug-ins,
# no framing; a link from corpus data that slipped through `safe_href` still could not run script.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Names that can only reach this machine: a rebinding page's own name is never one of them.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
Mode = Literal[MODES]
ERROR_RESPONSES = {
    400: {"model": ErrorOut, "description": "Mode not available on this index."},
    422: {
        "model": ErrorOut,
        "description": "Invalid parameter (empty or too long query, k out of bounds, unknown mode).",
    },
    429: {"model": ErrorOut, "description": "Too many searches running and waiting; retry after Retry-After."},
    503: {"model": ErrorOut, "description": "Elasticsearch unreachable, or the index missing or unusable."},
}


def create_app(
    settings: EsSettings | None = None,
    index: str = DEFAULT_INDEX,
    data_dir: Path | None = None,
    paths: Paths | None = None,
    limits: Limits | None = None,
    allowed_hosts: Iterable[str] = (),
) -> FastAPI:
    """The app over one index; `data_dir`'s annotationStore.csv (optional) gives grades and NDCG; `limits`:
    how many searches run at once and wait (web/gate.py); `allowed_hosts`: Host names answered besides the
    loopback ones (`*`: any, which turns the DNS-rebinding check off). On start-up (the ASGI lifespan: uvicorn, or
    `with TestClient(app)`) every available mode's models are loaded (`SearchService.warm_up`)."""
    service = SearchService(settings or EsSettings.from_env(), index, data_dir, paths or Paths.from_env())
    gates = Gates(limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Models load before the server accepts requests (uvicorn runs this first), not in a user's query.
        await asyncio.to_thread(service.warm_up)
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="hybrid-search",
        version=__version__,
        description="Semantic code search over Python functions (CodeSearchNet) on Elasticsearch.",
        docs_url=None,  # Swagger UI and ReDoc load scripts from a CDN, which the page's policy forbids;
        redoc_url=None,  # the schema itself stays at /openapi.json
    )
    app.state.service = service
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(mark=mark, render_code=render_code, safe_href=safe_href, where=where, max_k=MAX_K)
    _add_error_handlers(app)
    app.add_middleware(AllowedHosts, hosts=[*LOOPBACK_HOSTS, *allowed_hosts])
    app.add_middleware(SecurityHeaders)  # added last, so outermost: its headers go on the Host refusal too
    css = code_css()

    @app.get("/code.css", include_in_schema=False)
    def pygments_css() -> Response:
        """The code colours, as a file: the policy allows no inline style."""
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    async def gated(mode: str | None, fn, *args):
        """`fn` in a worker of the mode's gate; 503 at once while the cluster is known down."""
        if refusal := service.circuit.refusal():
            raise Unavailable(refusal)
        return await gates.for_mode(mode).run(fn, *args)

    @app.get("/api/search", response_model=SearchOut, responses=ERROR_RESPONSES, tags=["search"])
    async def api_search(
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="The query, in words.")],
        mode: Annotated[
            Mode | None, Query(description="Ranking mode [default: hybrid if available, else lexical].")
        ] = None,
        k: Annotated[int, Query(ge=1, le=MAX_K, description="How many results.")] = 10,
    ) -> SearchOut:
        """Ranked functions for a query, with matched terms, and grades and NDCG for an annotated query."""
        return search_out(await gated(mode, service.search, q, mode, k))

    def page_search(context: dict, q: str, mode: str, k: str) -> None:
        context["modes"] = service.modes()
        context["mode"] = mode or service.default_mode()
        if q:
            context["outcome"] = service.search(q, context["mode"], _page_k(k))

    # HEAD too: link checkers and `curl -I` ask for the page's headers (its body is dropped by the server).
    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request, q: str = "", mode: str = "", k: str = "10"):
        context: dict = {"q": q, "mode": mode, "k": k, "modes": [], "outcome": None, "error": None, "index": index}
        status = 200
        try:
            await gated(mode, page_search, context, q, mode, k)
        except BadRequest as exc:
            context["error"], status = str(exc), exc.status
        except Unavailable as exc:
            context["error"], status = str(exc), 503
        except Busy as exc:
            context["error"], status = str(exc), 429
        return templates.TemplateResponse(request, "search.html", context, status_code=status)

    return app


def _page_k(k: str) -> int:
    try:
        return int(k)
    except ValueError:
        raise InvalidParameter(f"k: must be a whole number between 1 and {MAX_K}, got {k!r}") from None


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Starlette's own 404 and 405 in the documented shape, `{"error": ...}`, not `{"detail": ...}`."""
        message = f"{exc.detail}: {request.method} {request.url.path}"
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        message = "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or e['loc'][0]}: {e['msg']}" for e in errors)
        return JSONResponse({"error": message, "detail": jsonable_encoder(errors)}, status_code=422)

    @app.exception_handler(BadRequest)
    def bad_request(request: Request, exc: BadRequest) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(Unavailable)
    def unavailable(request: Request, exc: Unavailable) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=503)

    @app.exception_handler(Busy)
    def busy(request: Request, exc: Busy) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after_s)})


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every response (plain ASGI: no per-request task or copy)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def host_name(header: str) -> str:
    """The name of a Host header, without its port, in lower case (`[::1]:8000` -> `[::1]`)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.split(":", 1)[0]


def normal_host(name: str) -> str:
    """A name as `--host` or `--allow-host` gives it, as `host_name` reads it from a header (`::1` -> `[::1]`)."""
    name = name.strip().lower()
    return f"[{name}]" if ":" in name and not name.startswith("[") else host_name(name)


class AllowedHosts:
    """ASGI middleware answering 400 `{"error": ...}` to a request whose Host header is not one the server
    was started for, before any route runs."""

    def __init__(self, app, hosts: Iterable[str]):
        self.app = app
        self.hosts = {normal_host(host) for host in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or "*" in self.hosts:
            return await self.app(scope, receive, send)
        header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if host_name(header) in self.hosts:
            return await self.app(scope, receive, send)
        shown = header[:100].encode("unicode_escape").decode("ascii")  # never echo control characters
        message = (
            f"this server does not answer for host {shown!r}; open it as http://localhost:PORT/, or start it with "
            "--allow-host NAME"
        )
        return await JSONResponse({"error": message}, status_code=400)(scope, receive, send)
