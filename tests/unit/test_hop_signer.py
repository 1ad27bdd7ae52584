"""The signed region-to-region hop: genuine, fresh, bound to its request, used once."""

from __future__ import annotations

from orbitask.regions.forwarding import HopSigner, forward_key

NOW = 1_800_000_000.0


def signer() -> HopSigner:
    return HopSigner(forward_key("shared-secret"))


def test_a_genuine_hop_verifies_once_and_carries_origin_and_client() -> None:
    s = signer()
    header = s.sign("eu-west-1", "203.0.113.9", "POST", "/api/v1/lists/x/cards", now=NOW)
    assert signer().verify(header, "POST", "/api/v1/lists/x/cards", now=NOW + 5) == ("eu-west-1", "203.0.113.9")
    verifier = signer()
    assert verifier.verify(header, "POST", "/api/v1/lists/x/cards", now=NOW) is not None
    assert verifier.verify(header, "POST", "/api/v1/lists/x/cards", now=NOW + 1) is None  # replayed


def test_a_hop_is_bound_to_its_method_path_time_and_key() -> None:
    header = signer().sign("eu-west-1", "203.0.113.9", "POST", "/api/v1/boards/b/lists", now=NOW)
    assert signer().verify(header, "DELETE", "/api/v1/boards/b/lists", now=NOW) is None
    assert signer().verify(header, "POST", "/api/v1/boards/OTHER/lists", now=NOW) is None
    assert signer().verify(header, "POST", "/api/v1/boards/b/lists", now=NOW + 31) is None  # outside the window
    assert HopSigner(forward_key("another")).verify(header, "POST", "/api/v1/boards/b/lists", now=NOW) is None
    forged = header.replace("203.0.113.9", "10.0.0.1")  # a client address the signer did not vouch for
    assert signer().verify(forged, "POST", "/api/v1/boards/b/lists", now=NOW) is None
    for junk in ("", "v1", "v2;1;2;3;4;5", "v1;notatime;n;o;c;m", "v1;1;2;3;4;5;6"):
        assert signer().verify(junk, "POST", "/x", now=NOW) is None
