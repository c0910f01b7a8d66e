"""Every word the console's templates show has its Chinese (the default language)."""

from __future__ import annotations

import re
from pathlib import Path

import volunteer_app.console as console_package
from volunteer_app.console import i18n

TEMPLATES = Path(console_package.__file__).parent / "templates" / "console"
WORD = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*[,)]""")


def test_every_template_word_has_its_chinese(app):
    with app.app_context():  # importing every page module registers its words
        pass
    words = {
        (path.name, re.sub(r"\\(.)", r"\1", match.group(1) if match.group(1) is not None else match.group(2)))
        for path in TEMPLATES.glob("*.html")
        for match in WORD.finditer(path.read_text(encoding="utf-8"))
    }
    assert len(words) > 100
    missing = {f"{name}: {word}" for name, word in words if word not in i18n.ZH}
    assert not missing, sorted(missing)
