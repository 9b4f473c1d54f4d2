"""The kyc-bridge image, built once per session from a clean copy of the repository."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.deploy.container import (
    BuildResult,
    ContainerError,
    build_image,
    clean_copy,
    engine_unavailable_reason,
    install_engine,
    podman,
    standin_base_image,
)


@pytest.fixture(scope="session", name="image_build")
def _image_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuildResult]:
    """
    Build deploy/Dockerfile (podman, installed if missing) on the Debian stand-in base.

    Skips only where no container engine can be installed (not root and no podman).
    The result is returned even when the build fails: `test_image_builds` reports it.
    """
    reason = engine_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    try:
        install_engine()
        base = standin_base_image()
    except ContainerError as exc:
        pytest.fail(f"cannot prepare the container engine: {exc}")
    context = clean_copy(tmp_path_factory.mktemp("image-context"))
    result = build_image(context, f"localhost/kyc-bridge:test-{uuid.uuid4().hex[:8]}", base)
    yield result
    podman("rmi", "--force", result.tag, check=False)


@pytest.fixture(scope="session", name="image")
def _image(image_build: BuildResult) -> BuildResult:
    """The built image; fails the tests that need it when the build failed."""
    if not image_build.ok:
        pytest.fail(f"the image did not build:\n{image_build.output[-3000:]}")
    return image_build
