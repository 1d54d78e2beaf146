"""One module per `assist` subcommand; each exposes `register(subparsers)`."""
