"""Allow ``python -m meshpipe``."""

from meshpipe.cli import main

if __name__ == "__main__":
    main()
