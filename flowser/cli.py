"""The ``flowser`` command."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flowser", description="Amazon SWF tools and a local SWF on Redis")
    sub = parser.add_subparsers(dest="command", required=True)
    redis_cmd = sub.add_parser("redis-url", help="start (or join) the embedded redis-server and print its URL")
    redis_cmd.add_argument("--data-dir", default=None, help="data directory (default: $FLOWSER_DATA_DIR or per-user)")
    args = parser.parse_args(argv)
    if args.command == "redis-url":
        from backends.local.embedded import EmbeddedRedis

        with EmbeddedRedis.acquire(args.data_dir) as server:
            print(server.url)
        return 0
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
