"""One `fail()` for every command line: `error: <message>` on one stderr line, the exit code, no traceback."""

import typer
from typer.testing import CliRunner

from cxrlabel.cli import app as cxrlabel_app
from cxrlabel.errors import fail
from cxrtrain.cli import app as cxrtrain_app


def test_a_long_message_with_brackets_is_one_plain_line_and_exit_2():
    app = typer.Typer()
    message = "labels.csv:3: no column [Effusion] " + "x" * 300

    @app.command()
    def stop() -> None:
        fail(message)

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2
    assert result.stderr == f"error: {message}\n"


def test_the_exit_code_can_be_set():
    app = typer.Typer()

    @app.command()
    def stop() -> None:
        fail(ValueError("nothing to do"), code=1)

    result = CliRunner().invoke(app, [])
    assert (result.exit_code, result.stderr) == (1, "error: nothing to do\n")


def test_cxrlabel_and_cxrtrain_report_user_mistakes_the_same_way(tmp_path):
    missing = tmp_path / "missing"
    for app, args in ((cxrlabel_app, ["mine", str(missing), "--out", str(tmp_path / "out")]),
                      (cxrlabel_app, ["build", "--labels", str(missing), "--out", str(tmp_path / "ds")]),
                      (cxrtrain_app, ["evaluate", str(missing)])):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
        assert "Traceback" not in result.output
