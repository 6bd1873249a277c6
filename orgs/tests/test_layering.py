"""orgs is the base every other app builds on: it must not import integrations (which registers into orgs'
extension points instead: orgs.access, orgs.privacy, the settings page's sections). Walks the source with ``ast``,
so an import inside a function counts as much as one at the top of a module."""

from __future__ import annotations

import ast
from pathlib import Path

import orgs

FORBIDDEN = "integrations"
ORGS_DIR = Path(orgs.__file__).parent


def product_modules() -> list[Path]:
    """Every module of the orgs package except its tests."""
    return sorted(p for p in ORGS_DIR.rglob("*.py") if "tests" not in p.relative_to(ORGS_DIR).parts)


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in ``tree``, wherever it is."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def imports_forbidden(module: str) -> bool:
    return module == FORBIDDEN or module.startswith(FORBIDDEN + ".")


def test_the_walk_finds_the_orgs_modules():
    names = {p.name for p in product_modules()}
    assert {"access.py", "privacy.py", "views.py", "urls.py"} <= names
    assert not any("tests" in p.parts for p in product_modules())


def test_the_walk_sees_imports_at_every_depth():
    source = (
        "import integrations.models\n"
        "def f():\n"
        "    from integrations.sso import services\n"
        "class C:\n"
        "    def m(self):\n"
        "        import_module('integrations.credentials.services')\n"
    )
    assert [m for _line, m in imported_modules(ast.parse(source)) if imports_forbidden(m)] == [
        "integrations.models",
        "integrations.sso",
        "integrations.credentials.services",
    ]


def test_orgs_does_not_import_integrations():
    offenders = [
        f"{path.relative_to(ORGS_DIR.parent)}:{line}: {module}"
        for path in product_modules()
        for line, module in imported_modules(ast.parse(path.read_text(), filename=str(path)))
        if imports_forbidden(module)
    ]
    assert offenders == [], "orgs imports integrations (register into an orgs extension point instead):\n" + "\n".join(
        offenders
    )
