"""How `hybrid serve` runs the app: uvicorn over HTTP/1.1 (h11), with the page's security headers on the
answers uvicorn gives itself, before any request reaches the app (a 400 for a request it cannot parse, such
as a request line over its 16 KiB limit), so that no response of this server lacks them."""

from __future__ import annotations

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from hybrid_search.web.app import SECURITY_HEADERS

_HEADERS = [(name.lower().encode("ascii"), value.encode("ascii")) for name, value in SECURITY_HEADERS.items()]


class SecureH11Protocol(H11Protocol):
    """uvicorn's h11 protocol whose own 400 carries SECURITY_HEADERS (its plain one carries none)."""

    def send_400_response(self, msg: str) -> None:
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"), *_HEADERS]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=msg.encode("ascii")),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def serve(app, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, http=SecureH11Protocol)
