"""Weekly leaderboard: opt-in, deterministic ties, own rank always visible."""

from __future__ import annotations

from datetime import UTC, datetime

from gamification.leaderboard import LeaderboardRow, rank_for, weekly_leaderboard

EARLY = datetime(2024, 5, 6, 9, tzinfo=UTC)
LATE = datetime(2024, 5, 7, 9, tzinfo=UTC)

ROWS = [
    LeaderboardRow(1, 100, True, "Ann", LATE),
    LeaderboardRow(2, 300, True, "Bob", EARLY),
    LeaderboardRow(3, 100, True, "Cas", EARLY),
    LeaderboardRow(4, 500, False, "Dee", EARLY),
    LeaderboardRow(5, 100, True, "Eve", None),
    LeaderboardRow(6, 100, True, "Fay", LATE),
]


def test_only_opted_in_learners_appear_on_the_board() -> None:
    assert 4 not in [entry.user_id for entry in weekly_leaderboard(ROWS)]


def test_ties_go_to_who_reached_the_xp_first_then_lower_user_id() -> None:
    board = weekly_leaderboard(ROWS)
    assert [(e.rank, e.user_id) for e in board] == [(1, 2), (2, 3), (3, 1), (4, 6), (5, 5)]


def test_board_order_does_not_depend_on_input_order() -> None:
    assert weekly_leaderboard(list(reversed(ROWS))) == weekly_leaderboard(ROWS)


def test_limit_keeps_the_top_of_the_board() -> None:
    assert [e.user_id for e in weekly_leaderboard(ROWS, limit=2)] == [2, 3]


def test_opted_out_learner_still_sees_their_own_rank() -> None:
    assert rank_for(4, ROWS) == 1
    assert rank_for(3, ROWS) == 2


def test_opted_in_learner_sees_the_rank_shown_on_the_board() -> None:
    board = {entry.user_id: entry.rank for entry in weekly_leaderboard(ROWS)}
    assert all(rank_for(uid, ROWS) == rank for uid, rank in board.items())


def test_unknown_learner_has_no_rank() -> None:
    assert rank_for(99, ROWS) is None
