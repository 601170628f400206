"""The survey dialog of multi-dialog consumers (protocol notes §7.2, §6.1 Example C).

When a consumer that declared ``MULTI_DIALOG`` closes the MAIN dialog of an assigned
conversation, the conversation's state becomes CLOSE while its stage stays OPEN, and a
``POST_SURVEY`` dialog opens in which a survey bot asks one quick-reply question. The first text
answer completes the survey: the bot thanks, closes the dialog (``Completed``) and the stage.
"""

from __future__ import annotations

import uuid
from typing import Any

from lpbot.protocol.names import Role

from .model import Conversation, Dialog, StoredEvent
from .world import World

__all__ = ["SURVEY_QUESTION", "SurveyBot"]

SURVEY_QUESTION = "How would you rate your overall experience?"


class SurveyBot:
    """Opens survey dialogs and completes them on the first answer (loop thread only)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.bot_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "lpbot-sandbox-survey-bot"))
        self.survey_id = "499706313"
        world.survey = self.start_survey
        world.listeners.append(self._on_change)

    def start_survey(self, conversation: Conversation) -> None:
        """Open the survey dialog (the world's ``survey`` hook)."""
        self.open(conversation)

    def open(self, conversation: Conversation) -> Dialog:
        """Open the POST_SURVEY dialog of ``conversation`` and ask the question."""
        dialog = self.new_dialog(conversation)
        with self.world.lock:
            for participant in dialog.participants[1:]:
                if participant not in conversation.participants:
                    conversation.participants.append(participant)
            self.world.add_dialog(conversation, dialog)
            self.world.conversation_changed(conversation)
            self.ask(dialog)
        return dialog

    def new_dialog(self, conversation: Conversation) -> Dialog:
        """A POST_SURVEY dialog for ``conversation``: consumer, survey bot, agent as reader."""
        agent_id = conversation.agent_id
        dialog = Dialog(
            dialog_id=str(uuid.uuid4()),
            conversation_id=conversation.conversation_id,
            dialog_type="POST_SURVEY",
            participants=[
                (conversation.consumer_id, Role.CONSUMER.value),
                (self.bot_id, Role.AGENT.value),
            ],
            meta_data={"appInstallId": str(uuid.uuid4())},
        )
        if agent_id is not None:
            dialog.participants.append((agent_id, Role.READER.value))
        return dialog

    def ask(self, dialog: Dialog) -> None:
        """Ask the survey's question in the new ``dialog`` (under the world's lock)."""
        with self.world.lock:
            question_id = str(uuid.uuid4())
            answers = [str(uuid.uuid4()) for _ in range(5)]
            replies = [
                {
                    "type": "button",
                    "tooltip": str(n),
                    "title": str(n),
                    "click": {
                        "metadata": [
                            {
                                "type": "Answer",
                                "questionId": question_id,
                                "id": answer,
                                "provider": "AC",
                            }
                        ],
                        "actions": [{"type": "publishText", "text": str(n)}],
                    },
                }
                for n, answer in enumerate(answers, start=1)
            ]
            event: dict[str, Any] = {
                "type": "ContentEvent",
                "message": SURVEY_QUESTION,
                "contentType": "text/plain",
                "quickReplies": {"type": "quickReplies", "itemsPerRow": 8, "replies": replies},
            }
            metadata = [
                {
                    "type": "Question",
                    "id": question_id,
                    "groupId": str(uuid.uuid4()),
                    "surveyId": self.survey_id,
                    "provider": "AC",
                    "replies": answers,
                }
            ]
            self.world.publish(dialog, self.bot_id, Role.AGENT.value, event, metadata)

    def _on_change(self, kind: str, conversation: Conversation, stored: StoredEvent | None) -> None:
        if kind != "event" or stored is None or stored.role != Role.CONSUMER.value:
            return
        dialog = conversation.dialogs.get(stored.dialog_id)
        if dialog is None or dialog.dialog_type != "POST_SURVEY" or not dialog.is_open:
            return
        if stored.event.get("type") != "ContentEvent":
            return
        self.world.defer(self._complete, conversation, dialog)

    def _complete(self, conversation: Conversation, dialog: Dialog) -> None:
        if not dialog.is_open:
            return
        thanks = {"type": "ContentEvent", "contentType": "text/plain", "message": "Thank you!"}
        self.world.publish(dialog, self.bot_id, Role.AGENT.value, thanks)
        self.world.close_dialog(dialog, closed_by="AGENT", cause="Completed")
        if not any(d.is_open for d in conversation.dialogs.values()):
            self.world.close_conversation(
                conversation, reason=conversation.close_reason or "CONSUMER"
            )
