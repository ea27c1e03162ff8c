"""ShellTask: run a command with bash; its last output line (or every line) is the result."""
from __future__ import annotations

import os
import subprocess
import tempfile

from ..core.task import Task
from ..engine import signals
from ..utilities.tasks import defaults_from_attrs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Union


class ShellTask(Task):
    """stdout and stderr come back merged, as Prefect's ShellTask returned them."""

    def __init__(self, command: Optional[str] = None, env: Optional[dict] = None,
                 helper_script: Optional[str] = None, shell: str = "bash", return_all: bool = False,
                 log_stderr: bool = False, stream_output: Union[bool, int, str] = False, **kwargs: Any) -> None:
        import logging

        self.command = command
        self.env = env
        self.helper_script = helper_script
        self.shell = shell
        self.return_all = return_all
        self.log_stderr = log_stderr
        if isinstance(stream_output, str):
            level = logging.getLevelName(stream_output)
            if not isinstance(level, int):
                raise TypeError(f"'stream_output': {stream_output} is not a valid log level")
            stream_output = level
        self.stream_output = logging.INFO if stream_output is True else stream_output
        super().__init__(**kwargs)

    @defaults_from_attrs("command", "env", "helper_script")
    def run(self, command: Optional[str] = None, env: Optional[dict] = None,
            helper_script: Optional[str] = None) -> Optional[Union[str, List[str]]]:
        if command is None:
            raise TypeError("run() missing required argument: 'command'")
        environment = dict(os.environ, **(env or {}))
        with tempfile.NamedTemporaryFile(prefix="flowimg-", suffix=".sh") as script:
            if helper_script:
                script.write(helper_script.encode() + os.linesep.encode())
            script.write(command.encode())
            script.flush()
            with subprocess.Popen([self.shell, script.name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  env=environment) as process:
                line: Optional[str] = None
                lines: List[str] = []
                assert process.stdout is not None
                for raw in iter(process.stdout.readline, b""):
                    line = raw.decode("utf-8", errors="replace").rstrip()
                    if self.return_all:
                        lines.append(line)
                    if self.stream_output:
                        self.logger.log(self.stream_output, line)
                process.wait()
        if process.returncode:
            message = f"Command failed with exit code {process.returncode}"
            self.logger.error(message)
            if self.log_stderr and not self.stream_output:
                self.logger.error("\n".join(lines) if self.return_all else line)
            raise signals.FAIL(message, result=lines if self.return_all else line)
        return lines if self.return_all else line
