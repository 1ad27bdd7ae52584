"""Search in the web app (the command palette and the results page) in Chromium against a real `orbitask serve`."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import Tab, add_card, card, column, create_board, sign_up

TITLE = "Calibrate the zirconium sensor"
HOSTILE = "<img src=x onerror=alert(1)> zirconium probe"


def _two_boards(tab: Tab) -> tuple[str, str, str]:
    """Boards "Alpha desk" and "Beta yard"; on Beta a card with a comment. Returns (alpha id, beta id, card id)."""
    page = tab.page
    alpha = create_board(tab, "Alpha desk", ["Inbox"])
    page.get_by_role("link", name="All boards").click()
    beta = create_board(tab, "Beta yard", ["Backlog"])
    add_card(tab, "Backlog", TITLE)
    card(tab, TITLE).click()
    expect(page).to_have_url(re.compile(f"/b/{beta}/c/[0-9a-f-]{{36}}$"))
    card_id = page.url.rsplit("/", 1)[1]
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Comment", exact=True).fill("Remember the quokka inspection first")
    dialog.get_by_role("button", name="Comment").click()
    expect(dialog.get_by_test_id("comment")).to_contain_text("quokka")
    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(f"/b/{beta}$"))
    expect(card(tab, TITLE)).to_be_focused()  # the dialog has closed and given focus back: the tests move it on
    return alpha, beta, card_id


def test_palette_finds_a_card_on_another_board_and_opens_it(new_tab) -> None:
    tab = new_tab()
    page = tab.page
    sign_up(tab, "Sam Seeker", "sam.seeker@example.com")
    alpha, beta, card_id = _two_boards(tab)
    tab.go(f"/b/{alpha}")
    expect(page.get_by_role("heading", name="Alpha desk")).to_be_visible()

    page.keyboard.press("Control+k")
    palette = page.get_by_role("dialog", name="Search", exact=True)
    box = palette.get_by_role("combobox", name="Search cards and boards")
    expect(box).to_be_focused()
    box.press_sequentially("zirconium")
    hit = palette.get_by_role("option", name=re.compile("^Calibrate the zirconium"))
    expect(hit).to_contain_text("Beta yard › Backlog")
    expect(hit.locator("mark")).to_have_text(re.compile("zirconium", re.IGNORECASE))
    expect(hit).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", hit.get_attribute("id"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/b/{beta}/c/{card_id}$"))
    expect(palette).to_have_count(0)
    expect(page.get_by_role("dialog").get_by_label("Title", exact=True)).to_have_value(TITLE)
    assert tab.dialogs == []


def test_slash_opens_the_palette_except_in_text_fields_and_escape_gives_focus_back(new_tab) -> None:
    tab = new_tab()
    page = tab.page
    sign_up(tab, "Tess Typer", "tess.typer@example.com")
    alpha, beta, _ = _two_boards(tab)
    palette = page.get_by_role("dialog", name="Search", exact=True)

    members = page.get_by_role("link", name="Board members")
    members.focus()
    page.keyboard.press("/")
    expect(palette).to_be_visible()
    expect(palette.get_by_role("combobox")).to_be_focused()
    page.keyboard.press("Escape")
    expect(palette).to_have_count(0)
    expect(members).to_be_focused()

    # a slash typed into the card composer is text
    col = column(tab, "Backlog")
    title = col.get_by_label("Card title")  # the composer stays open after adding a card
    title.click()
    title.press_sequentially("in/out")
    expect(title).to_have_value("in/out")
    expect(palette).to_have_count(0)
    title.press("Escape")

    # boards are offered too, and the arrows choose among the options
    page.get_by_role("button", name="Search", exact=True).click()
    palette.get_by_role("combobox").press_sequentially("alpha")
    board = palette.get_by_role("option", name=re.compile("Alpha desk"))
    expect(board).to_have_attribute("aria-selected", "true")
    see_all = palette.get_by_role("option", name=re.compile("See all results"))
    page.keyboard.press("ArrowDown")
    expect(see_all).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowDown")
    expect(board).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/b/{alpha}$"))
    expect(page.get_by_role("heading", name="Alpha desk")).to_be_visible()
    assert beta != alpha


def test_results_page_finds_a_comment_with_a_highlighted_snippet_and_keeps_its_state_in_the_url(new_tab) -> None:
    tab = new_tab()
    page = tab.page
    sign_up(tab, "Rita Results", "rita.results@example.com")
    alpha, beta, card_id = _two_boards(tab)
    tab.go(f"/b/{alpha}")
    expect(column(tab, "Inbox")).to_be_visible()
    add_card(tab, "Inbox", HOSTILE)

    page.keyboard.press("Control+k")
    page.get_by_role("combobox", name="Search cards and boards").press_sequentially("quokka")
    page.get_by_role("option", name=re.compile("See all results")).click()
    expect(page).to_have_url(re.compile(r"/search\?q=quokka$"))
    expect(page.get_by_role("heading", level=1, name="Search")).to_be_visible()
    hit = page.get_by_test_id("search-hit")
    expect(hit).to_have_count(1)
    expect(hit).to_contain_text(TITLE)
    expect(hit).to_contain_text("Beta yard › Backlog")
    expect(hit).to_contain_text("in a comment")
    expect(hit.locator("mark")).to_have_text("quokka")

    # filters live in the URL: another board finds nothing, and a reload keeps the choice
    page.get_by_label("Board", exact=True).select_option(label="Alpha desk")
    expect(page).to_have_url(re.compile(f"board_id={alpha}"))
    expect(page.get_by_text("No cards match “quokka” with these filters.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Board", exact=True)).to_have_value(alpha)
    expect(page.get_by_label("Search cards")).to_have_value("quokka")
    page.get_by_label("Board", exact=True).select_option(label="Beta yard")
    expect(hit).to_have_count(1)

    # typing a new query searches it; the hit opens the card
    page.get_by_label("Search cards").fill("zircon")
    expect(page).to_have_url(re.compile(r"q=zircon"))
    expect(hit.locator("mark")).to_have_text(re.compile("^zircon", re.IGNORECASE))

    # on every board: the card titled with markup shows it as text, its match marked
    page.get_by_label("Board", exact=True).select_option(label="All boards")
    expect(hit).to_have_count(2)
    hostile = hit.filter(has_text=HOSTILE)
    expect(hostile.locator("mark")).to_have_text(re.compile("^zircon", re.IGNORECASE))
    expect(page.locator("main img")).to_have_count(0)
    hit = hit.filter(has_text=TITLE)
    hit.get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"/b/{beta}/c/{card_id}$"))
    expect(page.get_by_role("dialog").get_by_label("Title", exact=True)).to_have_value(TITLE)
    assert tab.dialogs == []


def test_results_page_loads_more_by_cursor(new_tab) -> None:
    tab = new_tab()
    page = tab.page
    sign_up(tab, "Lou Longlist", "lou.longlist@example.com")
    board_id = create_board(tab, "Heap", ["Pile"])
    list_id = page.request.get(f"{tab.url}/api/v1/boards/{board_id}").json()["lists"][0]["id"]
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "orbitask_csrf")
    for n in range(27):  # one more page than the 25 a page shows, and then some
        made = page.request.post(f"{tab.url}/api/v1/lists/{list_id}/cards", headers={"X-CSRF-Token": csrf},
                                 data={"title": f"Pallet wombat {n:02d}"})
        assert made.status == 201, made.text()

    tab.go("/search?q=wombat")
    hits = page.get_by_test_id("search-hit")
    expect(hits).to_have_count(25)
    page.get_by_role("button", name="Load more").click()
    expect(hits).to_have_count(27)
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    titles = hits.locator(".hit-title").all_inner_texts()
    assert sorted(titles) == [f"Pallet wombat {n:02d}" for n in range(27)]
