"""The arithmetic example's utilities, as in flowser 0.1's documentation (§1.1.1)."""

import flowser  # noqa: F401  (as in the 0.1 docs)


@classmethod
def get_id_from_input(cls, input):
    return ".".join([cls.name, input['id']])


def auto_configured(cls):
    """Class decorator for workflows and activities. """
    cls.version = '1.0.0'
    cls.task_list = '-'.join([cls.name, cls.version])
    cls.get_id_from_input = get_id_from_input
    return cls
