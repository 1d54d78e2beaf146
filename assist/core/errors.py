"""The one exception tree of softphone-assist.

AssistError
├── InputError        bad user input (file, option, config key): one line on stderr, exit 2
│   ├── AudioFileError      a WAV that cannot be read (names the file and the problem)
│   ├── RulePackError       a rule pack that cannot be loaded (names the file and the line)
│   └── ConfigError         a config file or key that is invalid: `FILE: table.key: problem`
├── ModelError        a speech model that is missing or unusable
└── ServiceError      a socket or peer problem at run time (port in use, registrar unreachable)

The sans-I/O core raises ValueError/TypeError for programming misuse; adapters turn runtime
failures into `error` events instead of swallowing them.
"""

from __future__ import annotations


class AssistError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 1


class InputError(AssistError):
    """Bad user input; the message is one line meant for the user."""

    exit_code = 2


class AudioFileError(InputError):
    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class RulePackError(InputError):
    def __init__(self, path: object, problem: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class ConfigError(InputError):
    """A bad config key, one line: `FILE: table.key: problem` (file and key when known).

    Tables raise it with the key (`assist.core.tables`); the command that read the file adds
    the path with `in_file`, so every table's error names file and key the same way."""

    def __init__(self, problem: str, *, key: str = "", path: object = None) -> None:
        super().__init__(": ".join(str(part) for part in (path, key, problem) if part))
        self.problem = problem
        self.key = key
        self.path = path

    def in_file(self, path: object) -> ConfigError:
        """This error, naming the file it came from (unchanged if it names one already)."""
        if self.path is not None:
            return self
        return ConfigError(self.problem, key=self.key, path=path)


class ModelError(AssistError):
    exit_code = 2


class ServiceError(AssistError):
    exit_code = 2
