"""A fault-injecting HTTP reverse proxy on loopback (a test utility).

By hand, in front of a running server (Ctrl-C stops it and prints what was injected):

    .venv/bin/python tests/fault_proxy.py http://127.0.0.1:8000/v1 --rates 429=0.05,500=0.05,drop=0.05,malformed=0.05 --port 9000
    lbs run --system openai:MODEL,base_url=http://127.0.0.1:9000/v1 ...

    with FaultProxy(server.base_url, rates={"429": 0.05, "hang": 0.05}, seed=1) as proxy:
        ... openai:MODEL,base_url={proxy.base_url} ...
        proxy.injected            # Counter: fault kind -> times injected
        proxy.attempts_per_request()

It forwards every request to the upstream server and, per request attempt, injects one of FAULTS at
the chosen rates. Decisions are drawn from an RNG seeded by (seed, request body, attempt number), so
the same run meets the same faults whatever order concurrent requests arrive in. A retried request
has the same body, which is how attempts of one logical request are counted. GET requests (the
runner's check() lists the models) pass through unless `fault_get` is set.

The proxy runs its own event loop in a background thread. Between runs (while no request is in
flight) a test may change the settings with configure(), which also clears the counts.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Self
from urllib.parse import urlsplit

from aiohttp import ClientSession, ClientTimeout, web

FAULTS = (
    "429",  # rate limited, with a Retry-After header
    "500",
    "503",
    "hang",  # no response until hang_s (longer than any client timeout in the tests)
    "drop",  # headers and half the body, then the connection is closed
    "malformed",  # 200 with a body that is not JSON
    "truncated",  # 200 with the real JSON cut in half (a complete HTTP message)
    "slow",  # the real body one byte at a time: every read is quick, the whole is not
)
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "accept-encoding"}
MALFORMED = b'{"id": "chatcmpl-injected", "object": "chat.completion", "choices": [,]}'


@dataclass
class Attempt:
    key: str  # hash of method, path and body: the same for every attempt of one request
    index: int  # 0 for the first attempt of that request, 1 for its first retry, ...
    path: str
    fault: str | None
    started: float  # time.monotonic()
    ended: float | None = None  # when the proxy finished (or gave up) sending the response


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        rates: dict[str, float] | None = None,
        *,
        seed: int = 0,
        schedule: list[str | None] | None = None,
        max_faults_per_request: int | None = None,
        retry_after_s: float = 1,
        hang_s: float = 60.0,
        slow_byte_s: float = 1.0,
        fault_get: bool = False,
        port: int = 0,
    ):
        """`rates`: fault kind -> probability per attempt (they sum to at most 1). `schedule`: the
        n-th distinct request meets schedule[n] on its first attempt instead of a random draw.
        `max_faults_per_request`: after that many faults a request's attempts pass through."""
        parts = urlsplit(upstream)
        self.upstream = f"{parts.scheme}://{parts.netloc}"
        self.prefix = parts.path.rstrip("/")  # /v1: the proxy serves the same paths
        self.rates = dict(rates or {})
        self.seed = seed
        self.schedule = schedule
        self.max_faults_per_request = max_faults_per_request
        self.retry_after_s = retry_after_s
        self.hang_s = hang_s
        self.slow_byte_s = slow_byte_s
        self.fault_get = fault_get
        self.attempts: list[Attempt] = []
        self.injected: Counter[str] = Counter()
        self.port = port  # 0: any free port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def configure(self, **changes) -> Self:
        """New fault settings for what comes next; forgets what was counted so far."""
        for name, value in changes.items():
            if not hasattr(self, name):
                raise AttributeError(name)
            setattr(self, name, dict(value) if name == "rates" else value)
        self.reset()
        return self

    def reset(self) -> None:
        self.attempts = []
        self.injected = Counter()

    def posts(self) -> list[Attempt]:
        return [a for a in self.attempts if not a.path.endswith("/models")]

    def attempts_per_request(self) -> Counter[str]:
        return Counter(a.key for a in self.posts())

    # -- lifecycle (the caller's thread) ------------------------------------------------------
    def __enter__(self) -> Self:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *exc) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop.close()

    async def _start(self) -> None:
        self._stopping = asyncio.Event()  # ends hangs and trickles at once when the proxy stops
        self._session = ClientSession(timeout=ClientTimeout(total=600))
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        self._stopping.set()
        await self._runner.cleanup()
        await self._session.close()

    # -- requests (the proxy's loop) ------------------------------------------------------------
    def _decide(self, key: str, index: int, ordinal: int) -> str | None:
        limit = self.max_faults_per_request
        if limit is not None and sum(1 for a in self.attempts if a.key == key and a.fault) >= limit:
            return None
        if self.schedule is not None and index == 0 and ordinal < len(self.schedule):
            return self.schedule[ordinal]
        draw = random.Random(f"{self.seed}:{key}:{index}").random()
        for kind in FAULTS:
            draw -= self.rates.get(kind, 0.0)
            if draw < 0:
                return kind
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.method == "GET" and not self.fault_get:
            self.attempts.append(Attempt("", 0, request.path, None, time.monotonic(), time.monotonic()))
            return await self._forward(request, body)
        key = hashlib.sha256(f"{request.method} {request.path_qs}\n".encode() + body).hexdigest()
        index = sum(1 for a in self.attempts if a.key == key)
        ordinal = len({a.key for a in self.attempts if a.key})  # distinct requests seen before this one
        fault = self._decide(key, index, ordinal)
        attempt = Attempt(key, index, request.path, fault, time.monotonic())
        self.attempts.append(attempt)
        if fault:
            self.injected[fault] += 1
        try:
            return await self._respond(request, body, fault)
        finally:
            attempt.ended = time.monotonic()

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        status, content_type, data = await self._upstream(request, body)
        return web.Response(status=status, body=data, headers={"Content-Type": content_type})

    async def _upstream(self, request: web.Request, body: bytes) -> tuple[int, str, bytes]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with self._session.request(request.method, self.upstream + request.path_qs, data=body, headers=headers) as r:
            return r.status, r.headers.get("Content-Type", "application/json"), await r.read()

    async def _respond(self, request: web.Request, body: bytes, fault: str | None) -> web.StreamResponse:
        if fault is None:
            return await self._forward(request, body)
        if fault in ("429", "500", "503"):
            error = {"error": {"message": f"injected HTTP {fault}", "type": "injected", "code": int(fault)}}
            headers = {"Retry-After": f"{self.retry_after_s:g}"} if fault == "429" else None
            return web.json_response(error, status=int(fault), headers=headers)
        if fault == "hang":
            try:
                await asyncio.wait_for(self._stopping.wait(), self.hang_s)
            except TimeoutError:
                pass
            return web.Response(status=504)
        if fault == "malformed":
            return web.Response(status=200, body=MALFORMED, content_type="application/json")
        status, content_type, data = await self._upstream(request, body)
        if fault == "truncated":
            return web.Response(status=status, body=data[: len(data) // 2], headers={"Content-Type": content_type})
        # drop and slow: the real status and length, then only part of the body, or all of it slowly
        resp = web.StreamResponse(status=status, headers={"Content-Type": content_type})
        resp.content_length = len(data)
        await resp.prepare(request)
        if fault == "drop":
            await resp.write(data[: len(data) // 2])
            request.transport.close()  # the client sees EOF before Content-Length bytes
            return resp
        try:
            for i in range(len(data)):
                if self._stopping.is_set() or request.transport is None or request.transport.is_closing():
                    break  # the client gave up (or the proxy is stopping)
                await resp.write(data[i : i + 1])
                await asyncio.sleep(self.slow_byte_s)
        except ConnectionError:
            pass  # the client gave up mid-write
        return resp


def main(argv: list[str] | None = None) -> None:
    import argparse
    import signal

    ap = argparse.ArgumentParser(description="Inject faults between lbs and an OpenAI-compatible server.")
    ap.add_argument("upstream", help="the server's base URL, e.g. http://127.0.0.1:8000/v1")
    ap.add_argument("--rates", default="", help=f"KIND=P,... per attempt; kinds: {', '.join(FAULTS)}")
    ap.add_argument("--port", type=int, default=0, help="the proxy's port on 127.0.0.1 (default: any free one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-faults-per-request", type=int, default=None)
    ap.add_argument("--hang-s", type=float, default=600.0, help="how long a hang lasts (default 600 s)")
    args = ap.parse_args(argv)
    rates = {}
    for item in filter(None, args.rates.split(",")):
        kind, _, p = item.partition("=")
        if kind not in FAULTS:
            ap.error(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
        rates[kind] = float(p)
    if sum(rates.values()) > 1:
        ap.error("the rates add up to more than 1")
    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # before the proxy's thread starts, so sigwait gets them
    with FaultProxy(args.upstream, rates, seed=args.seed, max_faults_per_request=args.max_faults_per_request,
                    hang_s=args.hang_s, port=args.port) as proxy:
        print(f"fault proxy at {proxy.base_url} -> {args.upstream}; rates {rates or 'none'}", flush=True)
        try:
            signal.sigwait(stop)
        finally:
            print(f"requests {len(proxy.attempts_per_request())}, attempts {len(proxy.posts())}, injected {dict(proxy.injected)}")


if __name__ == "__main__":
    main()
