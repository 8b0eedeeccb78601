"""``python -m cnncli`` runs the command-line interface."""

from cnncli.cli.main import run

if __name__ == "__main__":
    run()
