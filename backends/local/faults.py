"""SWF faults raised by the engine.

Every fault carries the error code SWF puts on the wire, the namespace it
prefixes it with, and the HTTP status. The wire codec turns them into
``{"__type": "<namespace>#<code>", "message": ...}``; botocore turns that
back into ``client.exceptions.<code>``.

* SWFFault
    - modeled faults (``com.amazonaws.swf.base.model``): UnknownResourceFault,
      DomainAlreadyExistsFault, DomainDeprecatedFault, TypeAlreadyExistsFault,
      TypeDeprecatedFault, TypeNotDeprecatedFault,
      WorkflowExecutionAlreadyStartedFault, DefaultUndefinedFault,
      LimitExceededFault, OperationNotPermittedFault, TooManyTagsFault
    - Coral faults: ValidationException, SerializationException,
      UnknownOperationException, ThrottlingException, InternalFailure
"""

from __future__ import annotations

from typing import ClassVar

SWF_NAMESPACE = "com.amazonaws.swf.base.model"


class SWFFault(Exception):
    """Base of every fault the engine answers with."""

    code: ClassVar[str] = "SWFFault"
    namespace: ClassVar[str] = SWF_NAMESPACE
    status: ClassVar[int] = 400

    def __init__(self, message: str | None = "") -> None:
        super().__init__(message)
        self.message = message

    @property
    def wire_type(self) -> str:
        return f"{self.namespace}#{self.code}"



class UnknownResourceFault(SWFFault):
    """The named resource does not exist or can no longer be used."""

    code = "UnknownResourceFault"


class DomainAlreadyExistsFault(SWFFault):
    """RegisterDomain on an existing name, or UndeprecateDomain on a registered one."""

    code = "DomainAlreadyExistsFault"


class DomainDeprecatedFault(SWFFault):
    """The domain is deprecated."""

    code = "DomainDeprecatedFault"


class TypeAlreadyExistsFault(SWFFault):
    """Register*Type on an existing type, or Undeprecate*Type on a registered one."""

    code = "TypeAlreadyExistsFault"


class TypeDeprecatedFault(SWFFault):
    """The type is deprecated."""

    code = "TypeDeprecatedFault"


class TypeNotDeprecatedFault(SWFFault):
    """Delete*Type on a type that is not deprecated."""

    code = "TypeNotDeprecatedFault"


class WorkflowExecutionAlreadyStartedFault(SWFFault):
    """An open run already has this workflowId in the domain."""

    code = "WorkflowExecutionAlreadyStartedFault"


class DefaultUndefinedFault(SWFFault):
    """A required value was given neither by the call nor by the type's defaults."""

    code = "DefaultUndefinedFault"


class LimitExceededFault(SWFFault):
    """A quota was reached."""

    code = "LimitExceededFault"


class OperationNotPermittedFault(SWFFault):
    """The caller may not perform this operation."""

    code = "OperationNotPermittedFault"


class TooManyTagsFault(SWFFault):
    """More than 50 tags on a domain."""

    code = "TooManyTagsFault"


class ValidationException(SWFFault):
    """A request member violates a constraint, or the request is inconsistent."""

    code = "ValidationException"
    namespace = "com.amazon.coral.validate"


class SerializationException(SWFFault):
    """The request body is not a JSON object."""

    code = "SerializationException"
    namespace = "com.amazon.coral.service"


class UnknownOperationException(SWFFault):
    """The request names no SWF operation."""

    code = "UnknownOperationException"
    namespace = "com.amazon.coral.service"


class ThrottlingException(SWFFault):
    """Rate exceeded."""

    code = "ThrottlingException"
    namespace = "com.amazon.coral.availability"


class InternalFailure(SWFFault):
    """The engine failed; nothing was changed."""

    code = "InternalFailure"
    namespace = "com.amazon.coral.service"
    status = 500


MODELED_FAULTS: tuple[type[SWFFault], ...] = (
    UnknownResourceFault,
    DomainAlreadyExistsFault,
    DomainDeprecatedFault,
    TypeAlreadyExistsFault,
    TypeDeprecatedFault,
    TypeNotDeprecatedFault,
    WorkflowExecutionAlreadyStartedFault,
    DefaultUndefinedFault,
    LimitExceededFault,
    OperationNotPermittedFault,
    TooManyTagsFault,
)
