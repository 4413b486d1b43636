"""``python -m rlaif ARGS`` (and ``accelerate launch -m rlaif train ...``): the ``rlaif`` command."""

from rlaif.cli import main

if __name__ == "__main__":
    main()
