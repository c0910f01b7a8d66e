"""volunteer_app.App: Flask that remembers which of its hooks and views are plain functions."""

from __future__ import annotations

from volunteer_app import App


def test_ensure_sync_keeps_its_answer_per_function():
    app = App(__name__)

    def hook():
        return "plain"

    assert app.ensure_sync(hook) is hook
    assert app._ensured == {hook: hook}
    assert app.ensure_sync(hook) is hook


def test_ensure_sync_forgets_all_at_its_bound():
    app = App(__name__)
    app.SYNC_KNOWN = 3
    functions = [lambda n=n: n for n in range(5)]
    for function in functions:
        assert app.ensure_sync(function) is function
    assert len(app._ensured) <= 3


def test_an_unhashable_callable_is_asked_each_time():
    class Unhashable:
        __hash__ = None

        def __call__(self):
            return 1

    app = App(__name__)
    thing = Unhashable()
    assert app.ensure_sync(thing) is thing
    assert app._ensured == {}
