"""SLA alert delivery: targets (e-mail, webhook, command) and `deliver`.

The rules that decide when to alert live in pbxctl.domain.sla_rules (pure); this
package only sends what they decided.
"""

from pbxctl.alerts.channels import CommandTarget, EmailTarget, Target, WebhookTarget
from pbxctl.alerts.delivery import DeliveryResult, deliver

__all__ = ["CommandTarget", "DeliveryResult", "EmailTarget", "Target", "WebhookTarget", "deliver"]
