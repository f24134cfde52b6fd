"""`python -m trickbench` = the `trickbench` command (trickbench.cli)."""
from trickbench.cli import main

if __name__ == "__main__":
    main()
