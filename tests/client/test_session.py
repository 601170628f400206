"""The sans-I/O session: resume, de-duplication, gap handling, close classification."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lpbot.client.session import Recovery, Session, classify, resume_from
from lpbot.errors import AuthError, ConfigError, ConnectionClosed
from lpbot.protocol.events import ChatStateEvent, ContentEvent
from lpbot.protocol.names import Role
from lpbot.protocol.notifications import (
    ConversationChange,
    ConversationDetails,
    Dialog,
    ExConversationChangeNotification,
    MessagingEvent,
    MessagingEventNotification,
    Participant,
)
from lpbot.protocol.requests import SubscribeMessagingEvents

CONV = "conv-1"


def event(seq: int | None, dialog: str = CONV) -> MessagingEvent:
    body = ChatStateEvent(chat_state="COMPOSING") if seq is None else ContentEvent.text_plain(
        f"msg {seq}")
    return MessagingEvent(conversation_id=CONV, dialog_id=dialog, sequence=seq,
                          originator_id="agent", role="ASSIGNED_AGENT", server_timestamp=None,
                          event=body)


def batch(*events: MessagingEvent) -> MessagingEventNotification:
    return MessagingEventNotification(changes=tuple(events))


def conversations(state: str = "OPEN", *, ts: int | None = None,
                  dialogs: tuple[Dialog, ...] = ()) -> ExConversationChangeNotification:
    details = ConversationDetails(conversation_id=CONV, state=state, dialogs=dialogs,
                                  meta_data_last_update_ts=ts)
    change = ConversationChange(change_type="UPSERT", conversation_id=CONV, details=details)
    return ExConversationChangeNotification(subscription_id="s", changes=(change,))


def subscribe_open(session: Session) -> list[SubscribeMessagingEvents]:
    session.connected()
    return session.on_conversations(conversations()).requests


# --- classification (protocol notes §3.5) ------------------------------------------------------


def test_close_codes_are_classified_as_documented():
    assert classify(close_code=4401) is Recovery.REFRESH_TOKEN
    assert classify(close_code=4407) is Recovery.RENEW_IDENTITY
    assert classify(close_code=1008) is Recovery.REFRESH_TOKEN
    assert classify(close_code=1006) is Recovery.BACKOFF
    assert classify(close_code=1000) is Recovery.BACKOFF
    assert classify(close_code=1011) is Recovery.BACKOFF


def test_handshake_statuses_are_classified_as_documented():
    assert classify(http_status=401, authenticated=True) is Recovery.REFRESH_TOKEN
    assert classify(http_status=401, authenticated=False) is Recovery.RENEW_IDENTITY
    assert classify(http_status=429) is Recovery.RATE_LIMITED
    assert classify(http_status=503) is Recovery.BACKOFF
    assert classify(http_status=404) is Recovery.FATAL


def test_errors_are_classified():
    assert classify(error=ConnectionClosed("reset")) is Recovery.BACKOFF
    assert classify(error=OSError("refused")) is Recovery.BACKOFF
    assert classify(error=ConfigError("bad account")) is Recovery.FATAL
    assert classify(error=AuthError("provider down")) is Recovery.BACKOFF


# --- resume and de-duplication ---------------------------------------------------------------


def test_new_dialog_is_subscribed_from_zero_and_resumed_after_last_seen():
    session = Session("c")
    (request,) = subscribe_open(session)
    assert (request.dialog_id, request.from_seq) == (CONV, 0)
    assert [e.sequence for e in session.on_events(batch(event(0), event(1))).deliver] == [0, 1]
    (request,) = subscribe_open(session)  # a new socket
    assert request.from_seq == resume_from(1) == 2


def test_committed_sequences_resume_a_restarted_process():
    session = Session("c", committed={CONV: 41})
    (request,) = subscribe_open(session)
    assert request.from_seq == 42
    assert session.on_events(batch(event(40), event(41))).deliver == []
    assert [e.sequence for e in session.on_events(batch(event(42))).deliver] == [42]
    assert session.stats.duplicates == 2


def test_chat_states_are_delivered_unsequenced():
    session = Session("c")
    subscribe_open(session)
    result = session.on_events(batch(event(None), event(None), event(0)))
    assert [e.sequence for e in result.deliver] == [None, None, 0]


def test_subscribed_dialog_is_not_subscribed_twice_on_one_socket():
    session = Session("c")
    assert len(subscribe_open(session)) == 1
    assert session.on_conversations(conversations()).requests == []


def test_closed_dialog_we_followed_is_caught_up_once():
    session = Session("c", committed={CONV: 3})
    session.connected()
    (request,) = session.on_conversations(conversations("CLOSE")).requests
    assert request.from_seq == 4
    session.connected()
    assert session.on_conversations(conversations("CLOSE")).requests == []


def test_closed_dialog_never_followed_is_ignored():
    session = Session("c")
    session.connected()
    assert session.on_conversations(conversations("CLOSE")).requests == []


def test_older_conversation_snapshot_is_dropped():
    session = Session("c")
    session.connected()
    session.on_conversations(conversations("CLOSE", ts=20))
    result = session.on_conversations(conversations("OPEN", ts=10))
    assert result.changes == []
    assert session.conversations[CONV].state == "CLOSE"


def test_survey_dialog_is_followed_too():
    dialogs = (Dialog(dialog_id=CONV, state="CLOSE"), Dialog(dialog_id="survey", state="OPEN"))
    session = Session("c")
    session.connected()
    requests = session.on_conversations(conversations("CLOSE", dialogs=dialogs)).requests
    assert [(r.dialog_id, r.conversation_id) for r in requests] == [("survey", CONV)]


def test_unfollowed_dialog_is_muted_and_not_resumed():
    session = Session("c", auto_follow=False)
    session.connected()
    assert session.on_conversations(conversations()).requests == []
    request = session.follow(CONV, CONV)
    assert request is not None
    assert request.from_seq == 0
    assert len(session.on_events(batch(event(0))).deliver) == 1
    session.unfollow(CONV)
    assert session.on_events(batch(event(1))).deliver == []


def test_gap_triggers_one_resubscription_then_is_accepted():
    session = Session("c")
    subscribe_open(session)
    session.on_events(batch(event(0)))
    result = session.on_events(batch(event(2), event(3)))
    assert result.deliver == []
    assert [(r.dialog_id, r.from_seq) for r in result.requests] == [(CONV, 1)]
    session.subscription_answered(CONV)
    # the backlog fills the hole: delivered in order
    assert [e.sequence for e in session.on_events(batch(event(1), event(2))).deliver] == [1, 2]
    # a real hole (server never had 4): accepted after the re-subscription was answered
    assert session.on_events(batch(event(5))).deliver == []
    session.subscription_answered(CONV)
    assert [e.sequence for e in session.on_events(batch(event(5))).deliver] == [5]
    assert session.stats.gaps == 1


# --- retention: closed conversations are forgotten, their sequences are not ------------------


def closed(end_ts: int | None = None, *, survey: str | None = None) -> (
        ExConversationChangeNotification):
    dialogs = (Dialog(dialog_id=CONV, state="CLOSE", end_ts=end_ts),)
    if survey is not None:
        dialogs += (Dialog(dialog_id=survey, state="OPEN"),)
    details = ConversationDetails(conversation_id=CONV, state="CLOSE", dialogs=dialogs,
                                  end_ts=end_ts)
    change = ConversationChange(change_type="UPSERT", conversation_id=CONV, details=details)
    return ExConversationChangeNotification(subscription_id="s", changes=(change,))


def test_closed_conversation_is_kept_for_the_retention_then_forgotten():
    session = Session("c")
    subscribe_open(session)
    session.on_events(batch(event(0), event(1)))
    assert session.prune(1000.0, 60).conversations == []  # open: kept whatever the time
    session.on_conversations(closed(survey="survey"))
    assert session.prune(2000.0, 60).conversations == []  # a survey is open: kept
    session.on_conversations(closed(end_ts=2_010_000))   # the survey ended: closed at 2010
    assert session.prune(2069.0, 60).conversations == []
    assert session.retained() == (1, 2)
    pruned = session.prune(2070.0, 60)
    assert (pruned.conversations, sorted(pruned.dialogs)) == ([CONV], [CONV, "survey"])
    assert session.retained() == (0, 0)
    assert session.last_seen(CONV) is None


def test_closed_conversation_without_end_ts_counts_from_the_first_prune_that_saw_it():
    session = Session("c")
    subscribe_open(session)
    session.on_conversations(conversations("CLOSE"))
    assert session.prune(500.0, 60).conversations == []
    assert session.prune(559.0, 60).conversations == []
    assert session.prune(560.0, 60).conversations == [CONV]


def test_forgotten_conversation_stays_forgotten_and_resumes_after_its_last_sequence():
    session = Session("c")
    subscribe_open(session)
    session.on_events(batch(event(0), event(1), event(2)))
    session.on_conversations(closed(end_ts=1_000_000))
    session.prune(2000.0, 60)
    assert session.retained() == (0, 0)
    # a late event on the same socket, and a new socket's snapshot reporting it closed: dropped
    assert session.on_events(batch(event(3))).deliver == []
    session.connected()
    result = session.on_conversations(closed(end_ts=1_000_000))
    assert (result.changes, result.requests) == ([], [])
    assert session.retained() == (0, 0)
    assert (session.stats.dropped_events, session.stats.dropped_changes) == (1, 1)
    # following it explicitly resumes after the last sequence delivered, not from 0
    request = session.follow(CONV, CONV)
    assert request is not None
    assert request.from_seq == 3


def test_forgotten_conversation_reported_open_again_comes_back_where_it_was():
    session = Session("c")
    subscribe_open(session)
    session.on_events(batch(event(0), event(1)))
    session.on_conversations(closed(end_ts=1_000_000))
    session.prune(2000.0, 60)
    session.connected()
    assert session.on_conversations(closed(end_ts=1_000_000)).changes == []
    result = session.on_conversations(conversations("OPEN"))
    assert [c.conversation_id for c in result.changes] == [CONV]
    assert [(r.dialog_id, r.from_seq) for r in result.requests] == [(CONV, 2)]


def test_unfollowed_conversation_is_quiet_and_keeps_no_dialog_state():
    session = Session("c")
    subscribe_open(session)
    session.on_events(batch(event(0)))
    session.unfollow(CONV)
    assert session.retained() == (1, 0)  # its metadata only
    # the socket still carries its events, and its changes come: dropped, its state kept
    assert session.on_events(batch(event(1))).deliver == []
    result = session.on_conversations(closed(survey="survey"))
    assert (result.changes, result.requests) == ([], [])  # the new survey is not followed
    assert session.conversations[CONV].state == "CLOSE"
    session.connected()  # a new socket subscribes nothing of it
    assert session.on_conversations(closed(survey="survey")).requests == []
    assert (session.stats.dropped_events, session.stats.dropped_changes) == (1, 2)
    assert session.retained() == (1, 0)
    # followed again: resumes after the last sequence delivered; its changes come again
    request = session.follow(CONV, CONV)
    assert request is not None
    assert request.from_seq == 1
    result = session.on_conversations(closed(survey="survey"))
    assert [c.conversation_id for c in result.changes] == [CONV]
    assert [r.dialog_id for r in result.requests] == ["survey"]


def test_forgotten_dialog_stays_muted():
    session = Session("c")
    subscribe_open(session)
    session.on_events(batch(event(0)))
    session.unfollow(CONV)
    session.on_conversations(closed(end_ts=1_000_000))
    session.prune(2000.0, 60)
    assert session.on_events(batch(event(1))).deliver == []
    assert session.stats.dropped_events == 1
    session.connected()
    assert session.on_conversations(conversations("OPEN")).requests == []


def test_tombstone_entries_an_unfollow_pushes_out_are_reported_by_the_next_prune():
    session = Session("c", committed={"a": 1}, forgotten_limit=1)
    session.connected()
    assert session.prune(0.0, 0).dialogs == ["a"]
    session.unfollow(CONV)
    assert session.prune(0.0, 0).evicted == ["a"]


def test_committed_dialog_no_snapshot_mentions_is_forgotten_after_the_retention():
    session = Session("c", committed={"old-dialog": 7})
    subscribe_open(session)
    session.prune(100.0, 60)
    assert session.retained() == (1, 2)
    pruned = session.prune(160.0, 60)
    assert (pruned.conversations, pruned.dialogs) == (["old-dialog"], ["old-dialog"])
    assert session.retained() == (1, 1)


def test_tombstone_is_bounded_and_reports_what_it_drops():
    session = Session("c", committed={"a": 1, "b": 2, "d": 3}, forgotten_limit=2)
    session.connected()
    pruned = session.prune(0.0, 0)  # no retention: forgotten at once, oldest first
    assert (pruned.dialogs, pruned.evicted) == (["a", "b", "d"], ["a"])
    assert session.follow("d", "d").from_seq == 4  # still remembered
    assert session.follow("a", "a").from_seq == 0  # dropped for good


# --- property: whatever the network does, each event is delivered once, in order ------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), st.integers(1, 5)),       # live events
        st.tuples(st.just("offline"), st.integers(1, 5)),       # published while we are away
        st.tuples(st.just("drop"), st.just(0)),                 # socket drops, reconnect
        st.tuples(st.just("restart"), st.just(0)),              # process restart (committed)
        st.tuples(st.just("repeat"), st.integers(0, 50)),       # server re-sends an old event
        st.tuples(st.just("lose"), st.integers(1, 3)),          # live events lost in flight
        st.tuples(st.just("typing"), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_each_event_exactly_once_in_order_across_drops_and_restarts(operations):
    published = 0
    delivered: list[int] = []
    committed: dict[str, int] = {}
    session = Session("c")

    def reconnect() -> None:
        for request in subscribe_open(session):
            session.subscription_answered(request.dialog_id)
            receive(list(range(request.from_seq, published)))

    def receive(sequences: list[int]) -> None:
        result = session.on_events(batch(*(event(s) for s in sequences)))
        for delivered_event in result.deliver:
            if delivered_event.sequence is not None:
                delivered.append(delivered_event.sequence)
                committed[CONV] = delivered_event.sequence  # auto-commit
        for request in result.requests:  # a gap re-subscription: the server sends the backlog
            session.subscription_answered(request.dialog_id)
            receive(list(range(request.from_seq, published)))

    reconnect()
    for op, n in operations:
        if op == "publish":
            receive(list(range(published, published + n)))
            published += n
        elif op == "offline":
            published += n
            session.connected()  # the socket we had is gone
            reconnect()
        elif op == "drop":
            reconnect()
        elif op == "restart":
            session = Session("c", committed=committed)
            reconnect()
        elif op == "repeat" and published:
            receive([n % published])
        elif op == "lose":
            published += n  # never reached us; the next live event shows the jump
        elif op == "typing":
            session.on_events(batch(event(None)))
    reconnect()
    assert delivered == list(range(published))


quiet_ops = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), st.integers(1, 5)),  # sent to us while subscribed
        st.tuples(st.just("drop"), st.just(0)),
        st.tuples(st.just("restart"), st.just(0)),         # an unfollow does not survive it
        st.just(("unfollow", 0)),
        st.just(("follow", 0)),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(quiet_ops)
def test_an_unfollowed_conversation_delivers_nothing_and_loses_nothing(operations):
    published = 0
    delivered: list[int] = []
    committed: dict[str, int] = {}
    session = Session("c")
    quiet = False
    subscribed = False  # whether the server sends the dialog's events on this socket

    def receive(sequences: list[int]) -> None:
        result = session.on_events(batch(*(event(s) for s in sequences)))
        got = [e.sequence for e in result.deliver if e.sequence is not None]
        assert not (quiet and got)
        delivered.extend(got)
        if got:
            committed[CONV] = got[-1]
        answer(result.requests)

    def answer(requests: list[SubscribeMessagingEvents]) -> None:
        nonlocal subscribed
        for request in requests:
            subscribed = True
            session.subscription_answered(request.dialog_id)
            receive(list(range(request.from_seq, published)))

    def reconnect() -> None:
        nonlocal subscribed
        subscribed = False
        answer(subscribe_open(session))

    reconnect()
    for op, n in operations:
        if op == "publish":
            published += n
            if subscribed:
                receive(list(range(published - n, published)))
        elif op == "drop":
            reconnect()
        elif op == "restart":
            session, quiet = Session("c", committed=committed), False
            reconnect()
        elif op == "unfollow":
            session.unfollow(CONV)
            quiet = True
        elif op == "follow":
            quiet = False
            request = session.follow(CONV, CONV)
            answer([request] if request is not None else [])
        assert session.retained()[1] == (0 if quiet else 1)  # nothing kept per dialog if quiet
    if quiet:
        quiet = False
        request = session.follow(CONV, CONV)
        answer([request] if request is not None else [])
    reconnect()
    assert delivered == list(range(published))


def test_following_without_a_socket_leaves_the_subscription_to_the_next_snapshot():
    session = Session("c", auto_follow=False)
    session.connected()
    assert session.follow(CONV, CONV, subscribe=False) is None
    (request,) = session.on_conversations(conversations()).requests
    assert request.dialog_id == CONV


# --- shapes that leave things out (protocol notes §6.2, §6.3) -----------------------------------


def _details(state: str = "OPEN", stage: str | None = None,
             dialogs: tuple[Dialog, ...] = ()) -> ExConversationChangeNotification:
    participants = (Participant(id="me", role=Role.CONSUMER),
                    Participant(id="agent", role=Role.ASSIGNED_AGENT),
                    Participant(id="agent", role=Role.READER),
                    Participant(id="bot", role=Role.AGENT))
    details = ConversationDetails(conversation_id=CONV, state=state, stage=stage,
                                  participants=participants, dialogs=dialogs)
    change = ConversationChange(change_type="UPSERT", conversation_id=CONV, details=details)
    return ExConversationChangeNotification(subscription_id="s", changes=(change,))


def _bare(seq: int | None, originator: str, dialog: str = CONV) -> MessagingEvent:
    """A change without originatorMetadata and conversationId (§6.2's first example)."""
    body = ChatStateEvent(chat_state="BACKGROUND") if seq is None else ContentEvent.text_plain("x")
    return MessagingEvent(conversation_id=None, dialog_id=dialog, sequence=seq,
                          originator_id=originator, role=None, server_timestamp=None, event=body)


def test_role_and_conversation_come_from_the_participants():
    session = Session("me")
    session.connected()
    session.on_conversations(_details())
    delivered = session.on_events(batch(_bare(0, "agent"), _bare(1, "me"), _bare(None, "me"),
                                        _bare(2, "stranger"))).deliver
    assert [(e.role, e.conversation_id) for e in delivered] == [
        (Role.ASSIGNED_AGENT, CONV), (Role.CONSUMER, CONV), (Role.CONSUMER, CONV), (None, CONV)]


def test_a_dialogs_own_participants_decide_first():
    survey = Dialog(dialog_id="survey", dialog_type="POST_SURVEY", state="OPEN", participants=(
        Participant(id="me", role=Role.CONSUMER), Participant(id="bot", role=Role.AGENT),
        Participant(id="agent", role=Role.READER)))
    main = Dialog(dialog_id=CONV, dialog_type="MAIN", state="CLOSE")
    session = Session("me")
    session.connected()
    session.on_conversations(_details("CLOSE", "OPEN", (main, survey)))
    delivered = session.on_events(batch(_bare(0, "agent", "survey"), _bare(1, "bot", "survey")))
    assert [(e.role, e.conversation_id) for e in delivered.deliver] == [
        (Role.READER, CONV), (Role.AGENT, CONV)]


def test_a_conversation_with_a_running_survey_is_the_open_one():
    """protocol notes §7.2: stage is the container's; docs/sandbox-rules.md decision 1."""
    session = Session("me")
    session.connected()
    session.on_conversations(_details("CLOSE", "OPEN"))
    assert [c.conversation_id for c in session.open_conversations()] == [CONV]
    session.on_conversations(_details("CLOSE", "CLOSE"))
    assert session.open_conversations() == []
    session.on_conversations(_details("OPEN"))  # no stage reported: the state decides
    assert [c.conversation_id for c in session.open_conversations()] == [CONV]


def test_dialogs_without_messages_are_not_followed():
    cobrowse = Dialog(dialog_id="call", dialog_type="OTHER", channel_type="COBROWSE",
                      state="OPEN")
    main = Dialog(dialog_id=CONV, dialog_type="MAIN", channel_type="MESSAGING", state="OPEN")
    session = Session("me")
    session.connected()
    requests = session.on_conversations(_details(dialogs=(main, cobrowse))).requests
    assert [r.dialog_id for r in requests] == [CONV]
