"""Errors the sandbox answers with, shaped as Exchange shapes them."""


class EWSError(Exception):
    """A response-message error: the operation ran, this element failed with `code`."""

    def __init__(self, code, text=None, message_xml=None):
        super().__init__(text or code)
        self.code = code
        self.text = text or DEFAULT_TEXTS.get(code, code)
        self.message_xml = message_xml  # list of (name, value) pairs for <m:MessageXml>


class SOAPFault(Exception):
    """A request-level failure: the whole request is refused with a SOAP fault."""

    def __init__(self, code, text, fault_code="a:ErrorInvalidOperation", message_xml=None, http_status=500):
        super().__init__(text)
        self.code = code
        self.text = text
        self.fault_code = fault_code
        self.message_xml = message_xml
        self.http_status = http_status


DEFAULT_TEXTS = {
    "ErrorItemNotFound": "The specified object was not found in the store., The process failed to get the correct properties.",
    "ErrorFolderNotFound": "The specified folder could not be found in the store.",
    "ErrorInvalidIdMalformed": "Id is malformed.",
    "ErrorAccessDenied": "Access is denied. Check credentials and try again.",
    "ErrorNonExistentMailbox": "No mailbox with such guid.",
    "ErrorIrresolvableConflict": "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
    "ErrorInvalidPropertySet": "Set action is invalid for property.",
    "ErrorInvalidChangeKey": "The change key is invalid.",
    "ErrorInvalidPropertyRequest": "The property is not valid for this object type.",
    "ErrorInvalidPropertyAppend": "An object within a change description must contain one and only one property to modify.",
    "ErrorDeleteDistinguishedFolder": "Distinguished folders cannot be deleted.",
    "ErrorFolderExists": "A folder with the specified name already exists.",
    "ErrorNoPublicFolderReplicaAvailable": "There are no public folder servers available.",
    "ErrorInvalidOperation": "The operation is not valid.",
    "ErrorNameResolutionNoResults": "No results were found.",
    "ErrorNameResolutionMultipleResults": "Multiple results were found.",
    "ErrorMoveCopyFailed": "The move or copy operation failed.",
    "ErrorCannotEmptyFolder": "The folder cannot be emptied.",
    "ErrorInvalidRecipients": "At least one recipient isn't valid.",
    "ErrorMissingRecipients": "The message must have at least one recipient.",
    "ErrorInvalidValueForProperty": "The value is invalid for the property.",
    "ErrorImpersonateUserDenied": "The account does not have permission to impersonate the requested user.",
}
