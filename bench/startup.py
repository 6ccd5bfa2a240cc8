#!/usr/bin/env python3
"""Start-up time of `oegd-gateway serve`: from exec to the API port completing a TLS handshake.

    python3 bench/startup.py [BINARY] [RUNS]     (default target/release/oegd-gateway, 7 runs)

Makes a fresh data directory with `init --state MV` (SQLite), then RUNS times: starts
`serve --api-listen 127.0.0.1:PORT` (a free port chosen beforehand), tries a TCP connection
and a TLS handshake every millisecond (no client certificate; the server's answer is what
counts: a completed handshake or the server's TLS alert both mean TLS is being served), and
stops the server with SIGTERM. Prints each time and the median. Standard library only.
"""

import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_up(port, ctx):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                return tls.version() is not None
    except ssl.SSLError:
        return True  # the server spoke TLS (an alert): it is serving
    except OSError:
        return False


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/oegd-gateway"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    data = tempfile.mkdtemp(prefix="oegd-startup-")
    try:
        quiet = dict(os.environ, OEGD_LOG="warn")
        quiet.pop("OEGD_DATABASE_URL", None)
        subprocess.run([binary, "init", "--data", data, "--state", "MV"], check=True, stdout=subprocess.DEVNULL, env=quiet)
        times = []
        for _ in range(runs):
            port = free_port()
            env = quiet
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                [binary, "serve", "--data", data, "--api-listen", f"127.0.0.1:{port}"],
                stdout=subprocess.DEVNULL,
                env=env,
            )
            while not tls_up(port, ctx):
                if proc.poll() is not None:
                    sys.exit(f"serve exited with {proc.returncode}")
                if time.perf_counter() - t0 > 30:
                    proc.kill()
                    sys.exit("no TLS within 30 s")
                time.sleep(0.001)
            times.append(time.perf_counter() - t0)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        print("start-up (exec to TLS on the API port), ms:", " ".join(f"{t * 1000:.1f}" for t in times))
        print(f"median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms over {runs} runs")
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
