"""README.md's "Configuration reference" tables against the traits this package defines:
every configurable trait has a row, and every row names a trait."""

import re

import pytest
from traitlets import TraitType

import resettable_spawner
from tests.support import ROOT

SECTION = "## Configuration reference"


def readme_rows():
    """{trait name: table row} from the tables of the section whose first column is "Trait"."""
    text = (ROOT / "README.md").read_text()
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1]
    section = re.split(r"^## ", section, maxsplit=1, flags=re.M)[0]
    rows, in_table = {}, False
    for line in section.splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not in_table:  # a header row starts a table
            in_table = cells[0].lower() == "trait"
            continue
        if set(cells[0]) <= set("-: "):  # the |---|---| line
            continue
        names = re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cells[0])
        assert names, f"A row of README's configuration table names no trait: {line}"
        for name in names:
            rows[name] = line
    return rows


def spawner_classes():
    classes = [resettable_spawner.ResettableDockerSpawner]
    if hasattr(resettable_spawner, "ResettableSwarmSpawner"):
        classes.append(resettable_spawner.ResettableSwarmSpawner)
    return classes


def package_traits():
    """{trait name: "module.Class"} of every config=True trait a class of this package defines."""
    traits = {}
    for top in spawner_classes():
        for cls in top.__mro__:
            if not cls.__module__.startswith("resettable_spawner"):
                continue
            for name, value in cls.__dict__.items():
                if isinstance(value, TraitType) and value.metadata.get("config"):
                    traits.setdefault(name, f"{cls.__module__}.{cls.__qualname__}")
    return traits


def test_the_readme_has_a_configuration_table():
    assert len(readme_rows()) >= 5


def test_the_package_defines_configurable_traits():
    # Guards the walk itself: if it found nothing, the tests below would pass on nothing.
    assert {"restart_timeout", "home_mount_path"} <= set(package_traits())


@pytest.mark.parametrize("name", sorted(package_traits()))
def test_every_trait_has_a_readme_row(name):
    defined_in = package_traits()[name]
    assert name in readme_rows(), (
        f"The trait {name!r} ({defined_in}) has no row in README.md's {SECTION!r} table"
    )


@pytest.mark.parametrize("name", sorted(readme_rows()))
def test_every_readme_row_names_a_trait(name):
    assert name in package_traits(), (
        f"README.md's {SECTION!r} table has a row for {name!r}, which is no configurable trait"
        f" of {', '.join(c.__name__ for c in spawner_classes())}: {readme_rows()[name]}"
    )
