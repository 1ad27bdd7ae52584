"""The interactive API docs (/api/docs) in a real browser: Swagger UI renders the schema from our own server only."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page, Route, expect

from tests.e2e.conftest import Tab


def test_the_api_docs_render_with_nothing_from_another_host(new_tab: Callable[..., Tab]) -> None:
    tab = new_tab()
    elsewhere: list[str] = []

    def only_this_server(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:  # a CDN, a validator badge, a font: recorded and never fetched
            elsewhere.append(route.request.url)
            route.abort()

    tab.page.context.route("**/*", only_this_server)
    tab.go("/api/docs")
    page = tab.page
    expect(page.locator(".opblock-tag", has_text="auth").first).to_be_visible()
    register = operation(page, "post", "/api/v1/auth/register")
    expect(register).to_be_visible()
    register.locator(".opblock-summary-control").click()  # its body schema and examples render (OpenAPI 3.1)
    expect(register.get_by_text("Request body")).to_be_visible()
    health = operation(page, "get", "/api/v1/healthz")
    health.locator(".opblock-summary-control").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()  # a live answer from this server, highlighted
    expect(health.locator(".live-responses-table .response .response-col_status")).to_have_text("200")
    expect(health.locator(".live-responses-table .microlight").first).to_contain_text('"status": "ok"')
    expect(page.get_by_text("Unable to render this definition")).to_have_count(0)
    assert elsewhere == []


def operation(page: Page, method: str, path: str) -> Locator:
    """One operation's block in Swagger UI."""
    return page.locator(f".opblock-{method}", has=page.locator(f'[data-path="{path}"]'))
