import pytest

from ticketing.domain.visibility import InteractionType, SmsStatus, is_customer_visible

T = InteractionType


@pytest.mark.parametrize(
    ("kind", "sms_status", "visible"),
    [
        (T.EMAIL_INBOUND, None, True),
        (T.EMAIL_OUTBOUND, None, True),
        (T.SMS, SmsStatus.SENT, True),
        (T.SMS, SmsStatus.LOGGED, False),
        (T.SMS, SmsStatus.QUEUED, False),
        (T.SMS, SmsStatus.FAILED, False),
        (T.PHONE_CALL, None, False),
        (T.MEETING, None, False),
        (T.NOTE, None, False),
        (T.INTERNAL_NOTE, None, False),
        (T.SYSTEM, None, False),
        # An sms_status never makes another type visible.
        (T.INTERNAL_NOTE, SmsStatus.SENT, False),
        (T.SYSTEM, SmsStatus.SENT, False),
    ],
)
def test_visibility_rule(kind: InteractionType, sms_status: SmsStatus | None, visible: bool) -> None:
    assert is_customer_visible(kind, sms_status) is visible


def test_every_type_is_covered() -> None:
    assert len(InteractionType) == 8
