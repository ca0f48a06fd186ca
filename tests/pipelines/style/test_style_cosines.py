"""cos(c, b) between an encoder's styles: how far the story shift x - c + b can move x, in the summary too."""

import numpy as np

from flows.cli.summary import styles_table
from pipelines.style.files import cosines_to_others, write_style


def test_cosines_to_the_other_styles_of_the_encoder(tmp_path):
    write_style(tmp_path, "enc", "captions", np.array([1.0, 0.0, 0.0]), {"source": "computed"})
    write_style(tmp_path, "enc", "romance", np.array([1.0, 1.0, 0.0]), {"source": "computed"})
    write_style(tmp_path, "enc", "other-size", np.array([1.0, 0.0]), {"source": "computed"})
    write_style(tmp_path, "another-encoder", "far", np.array([0.0, 0.0, 1.0]), {"source": "computed"})
    cosines = cosines_to_others(tmp_path, "enc", "captions")
    assert set(cosines) == {"romance"}  # other encoders and other sizes are not comparable
    assert np.isclose(cosines["romance"], 1 / np.sqrt(2))
    assert "romance 0.707" in styles_table(tmp_path)
