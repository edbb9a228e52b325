"""``blvprof models``: the registered families, their config fields and defaults."""

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

import model as zoo
from blvprof.cli.options import Json


def register(app: typer.Typer) -> None:
    app.command("models")(models)


def models(
    name: Annotated[str | None, typer.Argument(help="Show one model's fields.")] = None,
    json_out: Json = False,
) -> None:
    """List registered models and their config fields."""
    names = [name] if name else zoo.list_models()
    listing = [
        {
            "name": n,
            "family": zoo.get_entry(n).family,
            "description": zoo.get_entry(n).description,
            "fields": [vars(f) for f in zoo.config_fields(n)],
        }
        for n in names
    ]
    if json_out:
        print(json.dumps(listing, indent=1, default=str))
        return
    console = Console()
    if name is None:
        table = Table("name", "family", "description", title="Registered models")
        for item in listing:
            table.add_row(item["name"], item["family"], item["description"])
        console.print(table)
        families = zoo.list_models(families_only=True)
        names_to_show = [n for n in families if n in zoo.list_models()]
    else:
        names_to_show = names
    for n in names_to_show:
        table = Table("field", "type", "default", "meaning", title=f"{n} config")
        for f in zoo.config_fields(n):
            table.add_row(f.name, f.type_name, str(f.default), f.help)
        console.print(table)
