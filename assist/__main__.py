"""`python -m assist` runs the same CLI as the `assist` console script."""

from assist.cli import main

raise SystemExit(main())
