"""`lvng serve` for the bench, in the same process (so its pid is the server's, for RSS),
ending by itself after BENCH_MAX_SECONDS whatever happens to the bench."""

import os
import sys
import threading

if __name__ == "__main__":
    timer = threading.Timer(float(os.environ.get("BENCH_MAX_SECONDS", "3600")), lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    from core.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
