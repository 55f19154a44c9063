"""Allow `python -m context_service`."""

from context_service.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
