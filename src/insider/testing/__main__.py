"""`python -m insider.testing`: run a FakeModelServer in the foreground.

The first line on stdout is the base URL (for scripts to read); the server runs until Ctrl-C,
SIGTERM, `--max-requests` chat calls or `--max-lifetime` seconds. Exit 0 on a clean stop, 1
when the port cannot be bound, 2 on bad options.
"""

from __future__ import annotations

import signal
from typing import Annotated

import typer
from rich.console import Console

from insider.testing._config import FaultKind, Faults, Latency, ServerLimits
from insider.testing._server import FakeModelServer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
err_console = Console(stderr=True)


def parse_kinds(text: str) -> tuple[FaultKind, ...]:
    """Comma-separated fault kinds, e.g. `rate_limit,server_error`."""
    allowed = ", ".join(kind.value for kind in FaultKind)
    try:
        return tuple(FaultKind(part.strip()) for part in text.split(",") if part.strip())
    except ValueError as err:
        raise typer.BadParameter(f"{err}; allowed: {allowed}") from err


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="127.0.0.1 or ::1 (nothing else).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 0,
    latency: Annotated[float, typer.Option(help="Mean seconds per chat call.")] = 0.0,
    jitter: Annotated[float, typer.Option(help="Uniform +/- seconds around --latency.")] = 0.0,
    fault_rate: Annotated[float, typer.Option(help="Probability in [0, 1] a call fails.")] = 0.0,
    fault_kinds: Annotated[
        str, typer.Option(help="Comma-separated: " + ",".join(k.value for k in FaultKind))
    ] = FaultKind.SERVER_ERROR.value,
    answer: Annotated[str, typer.Option(help="Default answer text.")] = "OK",
    seed: Annotated[int, typer.Option(help="Seed of latency and fault draws.")] = 0,
    max_requests: Annotated[int, typer.Option(help="Stop after this many chat calls.")] = 100_000,
    max_lifetime: Annotated[float, typer.Option(help="Stop after this many seconds.")] = 600.0,
) -> None:
    """Serve a fake OpenAI-compatible chat model on a loopback port."""
    try:
        server = FakeModelServer(
            host,
            port,
            default_answer=answer,
            latency=Latency(mean=latency, jitter=jitter),
            faults=Faults(rate=fault_rate, kinds=parse_kinds(fault_kinds)),
            seed=seed,
            limits=ServerLimits(max_requests=max_requests, max_lifetime_s=max_lifetime),
        )
    except ValueError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False)
        raise typer.Exit(code=2) from err
    try:
        server.start()
    except OSError as err:
        err_console.print(f"[bold red]failed:[/] cannot bind {host}:{port}: {err}", highlight=False)
        raise typer.Exit(code=1) from err
    print(server.base_url, flush=True)
    # SIGTERM (what process managers and Popen.terminate send) stops as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.wait_stopped()
    except KeyboardInterrupt:
        server.stop()
    err_console.print(f"stopped ({server.stats.stopped_reason}); {server.stats.total} chat calls")


if __name__ == "__main__":
    app()
