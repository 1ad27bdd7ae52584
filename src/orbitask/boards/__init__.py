"""The Board service: boards, lists, labels, board members."""
