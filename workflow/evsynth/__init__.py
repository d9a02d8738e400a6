"""evsynth: the importable, tested logic behind the msc-evidence workflow.

Modules by concept: ``records`` (load and validate study records), ``vocabulary``
(controlled terms), ``provenance`` (values in quotes), ``discrepancies``, ``units``
(dose and outcome harmonization), ``effects`` (escalc), ``meta`` (rma), ``appraisal``.
"""

__version__ = "0.1.0"
