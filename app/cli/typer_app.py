"""The shared Typer app of `flashjobs` and the options that several commands take."""

from typing import Annotated

import typer

app = typer.Typer(
    help="Training and finetune jobs for Lightning Flash image classifiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

ApiUrl = Annotated[
    str | None,
    typer.Option("--api-url", help="The API [default: FLASHJOBS_API_URL or http://127.0.0.1:8000]", show_default=False),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="The API key [default: FLASHJOBS_API_KEY, or the admin key `flashjobs up` wrote in the state dir]",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer instead of a table.")]
JobId = Annotated[str, typer.Argument(help="A job id.")]
Limit = Annotated[int, typer.Option(help="At most this many (newest first)")]
Cursor = Annotated[str | None, typer.Option(help="next_cursor of an earlier page")]
