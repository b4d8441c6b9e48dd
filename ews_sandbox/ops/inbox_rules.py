"""GetInboxRules and UpdateInboxRules: a mailbox's server-side rules (model/rules.py runs them).

UpdateInboxRules applies its operations (CreateRuleOperation, SetRuleOperation,
DeleteRuleOperation) all or none: one invalid operation fails the request with
ErrorInboxRulesValidationError and a RuleOperationError per bad operation naming the field
(Microsoft's page "UpdateInboxRules operation"). The sandbox keeps no Outlook rule blob,
so OutlookRuleBlobExists is always false and RemoveOutlookRuleBlob changes nothing.
"""
import copy

from lxml import etree

from ..model import directory, rules
from ..model.db import element_scope
from ..wire.errors import EWSError
from ..wire.ns import local, m, sub, t
from ..wire.soap import mark_outcome, response_element, schema_fault

VALIDATION_TEXT = "A validation error occurred while executing the rule operation."
ADDRESS_ACTIONS = ("ForwardAsAttachmentToRecipients", "ForwardToRecipients", "RedirectToRecipients")
FOLDER_ACTIONS = ("CopyToFolder", "MoveToFolder")
RANGE_PARTS = {"WithinSizeRange": ("MinimumSize", "MaximumSize"), "WithinDateRange": ("StartDateTime", "EndDateTime")}


class RuleInvalid(Exception):
    def __init__(self, field, code, text, value=""):
        super().__init__(text)
        self.field, self.code, self.text, self.value = field, code, text, value


def _mailbox(ctx, body):
    address = (body.findtext(m("MailboxSmtpAddress")) or "").strip()
    if not address:
        return ctx.mailbox_row()
    return ctx.mailbox_row(directory.mailbox_for_address(ctx.conn, ctx.actor["id"], address))


def get_inbox_rules(ctx, body):
    response = response_element("GetInboxRules")
    try:
        owner = _mailbox(ctx, body)
    except EWSError as error:
        mark_outcome(response, error)
        return response
    mark_outcome(response)
    sub(response, m("OutlookRuleBlobExists"), "false")
    found = rules.listing(ctx.conn, owner["id"])
    if found:
        container = sub(response, m("InboxRules"))
        for row in found:
            rule = etree.fromstring(row["xml"])
            rule.insert(0, etree.Element(t("RuleId")))
            rule[0].text = rules.rule_id_text(row)
            container.append(rule)
    return response


def _check_rule(ctx, owner, rule):
    """Refuse what Exchange refuses in a rule, naming the field."""
    actions = rule.find(t("Actions"))
    for action in actions if actions is not None else []:
        name = local(action)
        field = f"Action:{name}"
        if name == "SendSMSAlertToRecipients":
            raise RuleInvalid(field, "UnsupportedRule", "The operation on this unsupported rule is not allowed.")
        if name == "ServerReplyWithMessage" and not (action.get("Id") or "").strip():
            raise RuleInvalid(field, "InvalidValue", "Id must be non-empty.")
        if name in ADDRESS_ACTIONS:
            _check_addresses(field, action)
        if name in FOLDER_ACTIONS and rules.target_folder(ctx.conn, owner["id"], action) is None:
            raise RuleInvalid(field, "FolderDoesNotExist", "The folder does not exist in the mailbox.")
    for kind in ("Conditions", "Exceptions"):
        predicates = rule.find(t(kind))
        for predicate in predicates if predicates is not None else []:
            field = f"{kind[:-1]}:{local(predicate)}"
            if local(predicate) in ("FromAddresses", "SentToAddresses"):
                _check_addresses(field, predicate)
            if local(predicate) in RANGE_PARTS:
                _check_range_shape(predicate)
            if local(predicate) == "WithinSizeRange":
                _check_size(field, predicate)


def _check_range_shape(predicate):
    """The range's bounds are its own children (RulePredicateSizeRangeType, RulePredicateDateRangeType);
    anything else fails schema validation on Exchange before any rule is looked at."""
    for part in predicate:
        if local(part) not in RANGE_PARTS[local(predicate)]:
            raise schema_fault(f"The request failed schema validation: The element '{local(predicate)}' has "
                               f"invalid child element '{local(part)}'.")


def _check_addresses(field, element):
    addresses = list(element.iter(t("Address"), t("Mailbox")))
    if not addresses:
        raise RuleInvalid(field, "EmptyValueFound", "The value is empty.")
    for address in addresses:
        text = (address.findtext(t("EmailAddress")) or "").strip()
        if "@" not in text:
            raise RuleInvalid(field, "InvalidAddress", "The e-mail address is invalid.", text)


def _check_size(field, element):
    values = [int(v) for v in (element.findtext(t("MinimumSize")), element.findtext(t("MaximumSize")))
              if v is not None]
    if not values:
        raise RuleInvalid(field, "MissingRangeValue", "The size range needs a minimum or a maximum.")
    if any(v < 0 for v in values):
        raise RuleInvalid(field, "SizeLessThanZero", "A size cannot be less than zero.")
    if len(values) == 2 and values[0] > values[1]:
        raise RuleInvalid(field, "InvalidSizeRange", "The minimum size is larger than the maximum.")


def _operate(ctx, owner, operation):
    kind = local(operation)
    if kind == "DeleteRuleOperation":
        rule_id = (operation.findtext(t("RuleId")) or "").strip()
        row = rules.find(ctx.conn, owner["id"], rule_id)
        if row is None:
            raise RuleInvalid("RuleId", "RuleNotFound", "The rule was not found.", rule_id)
        rules.remove(ctx.conn, row)
        return
    rule = copy.deepcopy(operation.find(t("Rule")))
    rule_id = (rule.findtext(t("RuleId")) or "").strip()
    if kind == "CreateRuleOperation" and rule_id:
        raise RuleInvalid("RuleId", "CreateWithRuleId", "A new rule cannot have a rule id.", rule_id)
    row = None
    if kind == "SetRuleOperation":
        row = rules.find(ctx.conn, owner["id"], rule_id)
        if row is None:
            raise RuleInvalid("RuleId", "RuleNotFound", "The rule was not found.", rule_id)
    _check_rule(ctx, owner, rule)
    rules.store(ctx.conn, owner["id"], rule, row)


class _Refused(Exception):
    def __init__(self, failures):
        super().__init__("refused")
        self.failures = failures


def _apply_all(ctx, owner, operations):
    """Every operation, or none: a SAVEPOINT undone when one fails."""
    failures = []
    for index, operation in enumerate(operations):
        try:
            _operate(ctx, owner, operation)
        except RuleInvalid as invalid:
            failures.append((index, invalid))
    if failures:
        raise _Refused(failures)


def update_inbox_rules(ctx, body):
    response = response_element("UpdateInboxRules")
    try:
        owner = _mailbox(ctx, body)
        operations = body.find(m("Operations"))
        with element_scope():
            _apply_all(ctx, owner, list(operations) if operations is not None else [])
    except EWSError as error:
        mark_outcome(response, error)
        return response
    except _Refused as refused:
        mark_outcome(response, EWSError("ErrorInboxRulesValidationError", VALIDATION_TEXT))
        errors = sub(response, m("RuleOperationErrors"))
        for index, invalid in refused.failures:
            error = sub(errors, t("RuleOperationError"))
            sub(error, t("OperationIndex"), str(index))
            details = sub(sub(error, t("ValidationErrors")), t("Error"))
            sub(details, t("FieldURI"), invalid.field)
            sub(details, t("ErrorCode"), invalid.code)  # a RuleValidationErrorCodeType value
            sub(details, t("ErrorMessage"), invalid.text)
            sub(details, t("FieldValue"), invalid.value)
        return response
    mark_outcome(response)
    return response


OPERATIONS = {"GetInboxRules": get_inbox_rules, "UpdateInboxRules": update_inbox_rules}
