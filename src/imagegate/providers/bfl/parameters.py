"""BFL's wire facts as data: hosts, statuses, and the defaults for models the catalog does not list.

Facts: ../shared/reference/providers.md §5 (BFL's OpenAPI and the official ``bfl-api`` skill).
"""

from __future__ import annotations

from imagegate.domain.capabilities import Capabilities, CustomSizeRule
from imagegate.domain.errors import ModerationBlocked, ProviderError, UpstreamBadResponse, UpstreamUnavailable

DIALECT = "bfl"
AUTH_HEADER = "x-key"
# The polling URL may be regional (api.us1.bfl.ai); result files are signed URLs on BFL's delivery
# hosts (delivery-eu1.bfl.ai) or, for older tasks, its Azure blob account.
API_HOSTS = ("api.bfl.ai", "*.bfl.ai")
RESULT_HOSTS = ("*.bfl.ai", "bfldeliveryprod.blob.core.windows.net")

# Statuses of GET polling_url that mean "still working" (2026 clients add the last two).
RUNNING = frozenset({"Pending", "Reasoning", "Generating", "Queued"})
READY = "Ready"
# Finished without an image: the domain error each status maps to.
FAILED: dict[str, type[ProviderError]] = {
    "Request Moderated": ModerationBlocked,  # the prompt or an input image
    "Content Moderated": ModerationBlocked,  # the generated image
    "Error": UpstreamUnavailable,  # the host failed the task: another try (or route) may succeed
    "Task not found": UpstreamBadResponse,  # the host lost the task it just accepted
}

# input_image, input_image_2 ... input_image_8 (klein takes 4; the catalog says how many per model).
MAX_INPUT_FIELDS = 8
CREDIT_USD = "0.01"  # one BFL credit

# FLUX.2 rules (width/height multiples of 16, min 64, at most 4 MP) for a model the catalog lacks.
DEFAULT_CAPABILITIES = Capabilities(
    operations=frozenset({"generate", "edit"}),
    custom_size=CustomSizeRule(
        multiple_of=16, max_edge=4096, max_aspect_ratio=4.0, min_pixels=64 * 64, max_pixels=4 * 1024 * 1024
    ),
    max_n=1,
    max_input_images=4,
    output_formats=("jpeg", "png", "webp"),
    seed=True,
)


def input_field(index: int) -> str:
    """``input_image`` for the first reference image, ``input_image_2`` ... after it."""
    return "input_image" if index == 0 else f"input_image_{index + 1}"
