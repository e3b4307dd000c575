""""Predict first": the student writes a guess before a main result, and sees it again after.

Before the result::

    my_prediction = None  # your guess, e.g. a number or a word: see the question above

After the result::

    show_prediction(my_prediction, measured=gain, question="LA - CE on the few group")

>>> show_prediction(None, measured=4.2, question="the gain in points")
You did not write a prediction for the gain in points; measured: 4.2. Next time, guess first.
False
>>> show_prediction(3, measured=4.2, question="the gain in points")
The gain in points: you predicted 3; measured: 4.2.
True
"""

from __future__ import annotations

from typing import Any

__all__ = ["show_prediction"]


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def show_prediction(prediction: Any, *, measured: Any, question: str) -> bool:
    """Print the student's prediction beside the measured value; True if one was written.

    Nothing is graded: the point is to compare a committed guess with the measurement.
    """
    if prediction is None:
        print(f"You did not write a prediction for {question}; measured: {_format(measured)}. "
              "Next time, guess first.")
        return False
    print(f"{question[:1].upper() + question[1:]}: you predicted {_format(prediction)}; "
          f"measured: {_format(measured)}.")
    return True
