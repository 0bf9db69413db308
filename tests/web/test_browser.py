"""End to end: the explorer page in headless Chromium against a real ``convwise serve`` process.

Skipped (with the reason) only when /usr/bin/chromium or the playwright package is missing.
Expected sizes come from torch (shapes of real calls) and from the definition of a
sliding window, not from the code under test. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi", reason="the explorer needs the web extra (fastapi, uvicorn)")

pytest.importorskip("playwright", reason="browser tests need the playwright Python package")
from playwright.sync_api import expect  # noqa: E402


def torch_conv_size(h, w, k, stride=1, padding=0, dilation=1):
    out = torch.nn.functional.conv2d(torch.zeros(1, 1, h, w), torch.zeros(1, 1, k, k), stride=stride, padding=padding,
                                     dilation=dilation)
    return tuple(out.shape[2:])


def window_cells(out_index, kernel, stride, dilation):
    """Grid cells (on the padded input) of one output's window, by the definition of a sliding window."""
    (i, j), (s, d) = out_index, (stride, dilation)
    return {(i * s + a * d, j * s + b * d) for a in range(kernel) for b in range(kernel)}


def cells(page, selector):
    return {tuple(map(int, c.split(","))) for c in
            page.eval_on_selector_all(selector, "els => els.map(e => e.dataset.cell)")}


def test_stride_and_padding_update_the_output_size(page, shot):
    page.goto(page.base + "?op=conv2d&input_size=7x7&kernel_size=3")
    size = page.locator("#output-size")
    expect(size).to_have_text("output 1 × {} × {}".format(*torch_conv_size(7, 7, 3)))
    for field in ("#stride-0", "#stride-1"):
        page.fill(field, "2")
    expect(size).to_have_text("output 1 × {} × {}".format(*torch_conv_size(7, 7, 3, stride=2)))
    for field in ("#padding-0", "#padding-1"):
        page.fill(field, "1")
    expect(size).to_have_text("output 1 × {} × {}".format(*torch_conv_size(7, 7, 3, stride=2, padding=1)))
    page.fill("#stride-1", "3")
    h, w = torch.nn.functional.conv2d(torch.zeros(1, 1, 7, 7), torch.zeros(1, 1, 3, 3), stride=(2, 3),
                                      padding=1).shape[2:]
    expect(size).to_have_text(f"output 1 × {h} × {w}")
    assert "stride=(2, 3)" in page.locator("#code-pytorch").inner_text()
    assert "stride=2x3" in page.url and "padding=1" in page.url, page.url  # the state is in the URL
    shot(page, "stride-padding")
    with page.expect_download() as download:
        page.click("#gif")
    with open(download.value.path(), "rb") as handle:
        assert handle.read(6) == b"GIF89a"


def test_invalid_choice_shows_the_message_next_to_the_control(page, shot):
    page.goto(page.base + "?op=conv2d&input_size=5x5&kernel_size=3")
    expect(page.locator("#output-size")).to_have_text("output 1 × 3 × 3")
    for field in ("#kernel_size-0", "#kernel_size-1"):
        page.fill(field, "9")
    message = page.locator('.error[data-error-for="kernel_size"]')
    expect(message).to_contain_text("conv2d: effective kernel size 9 exceeds padded input size 5")
    expect(page.locator('.field[data-field="kernel_size"]')).to_have_class("field invalid")
    shot(page, "invalid-kernel")
    # groups must divide the channels: the message sits beside the groups slider
    page.goto(page.base + "?op=conv2d&input_size=5x5&kernel_size=3&in_channels=4&out_channels=6&groups=4")
    expect(page.locator('.error[data-error-for="groups"]')).to_have_text("conv2d: groups=4 must divide out_channels=6")
    page.locator("#groups").fill("2")
    expect(page.locator('.error[data-error-for="groups"]')).to_have_text("")
    expect(page.locator("#output-size")).to_have_text("output 6 × 3 × 3")
    shot(page, "groups")


def test_hover_an_output_cell_highlights_its_inputs_with_products(page, shot):
    with page.expect_response("**/api/explain") as response:
        page.goto(page.base + "?op=conv2d&input_size=5x5&kernel_size=3&stride=2&padding=1")
    data = response.value.json()
    page.hover('#drawing svg[data-grid="output"] g[data-cell="1,1"]')
    expected = window_cells((1, 1), 3, 2, 1)  # all nine inside the real input
    assert cells(page, '#drawing svg[data-grid="input"] g.tap') == expected
    x = torch.tensor(data["values"]["input"], dtype=torch.float64)[None]
    w = torch.tensor(data["values"]["weight"], dtype=torch.float64)
    y = torch.nn.functional.conv2d(x, w, stride=2, padding=1)[0, 0, 1, 1].item()
    detail = page.locator("#detail").inner_text()
    assert f"convwise computed {int(y)}".replace("-", "−") in detail, detail
    terms = [p for p in detail.splitlines() if p.startswith("channel 0:")][0]
    assert terms.count("·") == 9
    shot(page, "hover-output")
    # a corner window reads padding: padding taps are marked apart from input taps
    page.hover('#drawing svg[data-grid="output"] g[data-cell="0,0"]')
    window = window_cells((0, 0), 3, 2, 1)
    inside = {(r, c) for r, c in window if 1 <= r <= 5 and 1 <= c <= 5}
    assert cells(page, '#drawing svg[data-grid="input"] g.tap') == inside
    assert cells(page, '#drawing svg[data-grid="input"] g.tap-pad') == window - inside
    # hover an input cell: every output it feeds
    page.hover('#drawing svg[data-grid="input"] g[data-cell="3,3"]')  # input (2, 2)
    feeds = {(i, j) for i in range(3) for j in range(3) if (3, 3) in window_cells((i, j), 3, 2, 1)}
    assert cells(page, '#drawing svg[data-grid="output"] g.feeds') == feeds


def test_link_with_state_restores_the_view(page, shot):
    query = ("?op=conv_transpose2d&input_size=4x6&kernel_size=3&stride=2&padding=1&output_padding=1"
             "&in_channels=2&out_channels=4&groups=2&transposed_view=stamp")
    with page.expect_response("**/api/explain") as response:
        page.goto(page.base + query)
    data = response.value.json()
    y = torch.nn.functional.conv_transpose2d(torch.zeros(1, 2, 4, 6), torch.zeros(2, 2, 3, 3), stride=2, padding=1,
                                             output_padding=1, groups=2)
    expect(page.locator("#output-size")).to_have_text("output {} × {} × {}".format(*y.shape[1:]))
    assert page.input_value("#op") == "conv_transpose2d"
    assert [page.input_value(f"#input_size-{d}") for d in (0, 1)] == ["4", "6"]
    assert page.input_value("#output_padding-0") == "1"
    assert page.input_value("#groups") == "2"
    assert page.locator("#tview-seg button.on").inner_text().startswith("each input stamps")
    # the stamp view: input cell (1, 2) stamps the 3x3 kernel at output rows 2*1-1.., cols 2*2-1..
    page.hover('#drawing svg[data-grid="input"] g[data-cell="1,2"]')
    stamped = {(1 * 2 - 1 + a, 2 * 2 - 1 + b) for a in range(3) for b in range(3)}
    assert cells(page, '#drawing svg[data-grid="output"] g.feeds') == stamped
    shot(page, "transposed-stamp")
    # stepping to the last input position: the running sums have become torch's output
    page.mouse.move(0, 0)
    page.locator("#step").fill(str(4 * 6 - 1))
    expected = torch.nn.functional.conv_transpose2d(torch.tensor(data["values"]["input"])[None],
                                                    torch.tensor(data["values"]["weight"]), stride=2, padding=1,
                                                    output_padding=1, groups=2)[0, 0]
    shown = page.eval_on_selector_all('#drawing svg[data-grid="output"] text',
                                      "els => els.map(e => e.textContent.replace('−', '-'))")
    assert [float(v) for v in shown] == expected.flatten().tolist()
    page.click('#tview-seg button[data-tview="zeros"]')
    expect(page.locator('#drawing svg[data-grid="input"] g.zero').first).to_be_visible()
    shot(page, "transposed-zeros")


def test_backward_shows_the_gradients_flowing_into_an_input_cell(page, shot):
    with page.expect_response("**/api/explain") as response:
        page.goto(page.base + "?op=conv2d&input_size=5x5&kernel_size=3&view=backward")
    data = response.value.json()
    page.click('#drawing svg[data-grid="input"] g[data-cell="2,2"]')
    x = torch.tensor(data["values"]["input"], dtype=torch.float64, requires_grad=True)
    w = torch.tensor(data["values"]["weight"], dtype=torch.float64, requires_grad=True)
    dy = torch.tensor(data["values"]["grad_output"], dtype=torch.float64)
    torch.nn.functional.conv2d(x[None], w)[0].backward(dy)
    detail = page.locator("#detail").inner_text()
    assert f"convwise computed {int(x.grad[0, 2, 2])}".replace("-", "−") in detail, detail
    assert len(cells(page, '#drawing svg[data-grid="output"] g.feeds')) == 9  # the centre feeds every output
    page.click('#drawing svg[data-grid="kernel"] g[data-cell="0,1"]')
    detail = page.locator("#detail").inner_text()
    assert f"convwise computed {int(w.grad[0, 0, 0, 1])}".replace("-", "−") in detail, detail
    shot(page, "backward")


def _lenet_window(layer_unit):
    """Input rows/cols seen by a unit of LeNet-5's second conv (layer 3), walking back by definition."""
    lo, hi = layer_unit, layer_unit
    for kernel, stride in ((5, 1), (2, 2), (5, 1)):  # conv 5 <- avg_pool 2 <- conv 5
        lo, hi = lo * stride, hi * stride + kernel - 1
    return lo, hi


def test_network_click_shows_the_receptive_field(page, shot):
    page.goto(page.base + "?tab=network&model=lenet5")
    canvas = page.locator("#map-3")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    rows, cols = 10, 10
    r, c = 4, 7
    canvas.click(position={"x": (c + 0.5) * box["width"] / cols, "y": (r + 0.5) * box["height"] / rows})
    (r0, r1), (c0, c1) = _lenet_window(r), _lenet_window(c)
    expect(page.locator("#rf-info")).to_contain_text(f"rows {r0}–{r1}, columns {c0}–{c1}")
    # the window is painted on the input map and nothing outside it is
    painted = page.evaluate("""() => {
        const cv = document.querySelector('#map-input'), s = Number(cv.dataset.scale);
        const ctx = cv.getContext('2d'), out = [];
        for (let r = 0; r < 32; r++) { const row = [];
          for (let c = 0; c < 32; c++) { const p = ctx.getImageData(c * s + s / 2, r * s + s / 2, 1, 1).data;
            row.push(p[0] > 200 && p[2] < 150 ? 1 : 0); }
          out.push(row); }
        return out; }""")
    painted = np.array(painted)
    expected = np.zeros((32, 32), int)
    expected[r0:r1 + 1, c0:c1 + 1] = 1
    assert (painted == expected).all()
    assert "61,706" in page.locator("#net-summary").inner_text()
    shot(page, "network-lenet5")


def test_draw_a_digit_and_see_the_prediction(page, shot, digits_npz):
    from convwise import train

    with page.expect_response("**/api/network/forward"):
        page.goto(page.base + "?tab=network&model=digits.npz")
    pad = page.locator("#pad")
    box = pad.bounding_box()
    with page.expect_response("**/api/network/forward") as response:
        page.mouse.move(box["x"] + 120, box["y"] + 30)
        page.mouse.down()
        for step in range(12):
            page.mouse.move(box["x"] + 120, box["y"] + 30 + step * 15)
        page.mouse.up()
    posted = json.loads(response.value.request.post_data)
    model, _ = train.load(digits_npz)
    expected = int(np.argmax(model(np.asarray(posted["image"], np.float32)[None, None])))
    expect(page.locator("#prediction")).to_have_text(f"prediction: {expected}")
    assert page.locator("#features canvas").count() >= 16  # every feature map of the first conv
    shot(page, "network-digits")


def test_a_json_model_file_from_the_page(page, tmp_path, shot):
    model = {"input_shape": [3, 32, 32], "layers": [{"type": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2},
                                                     {"type": "relu"}, {"type": "max_pool2d", "kernel_size": 3}]}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(model))
    page.goto(page.base + "?tab=network")
    expect(page.locator("#net-summary table")).to_be_visible()
    page.set_input_files("#net-file", str(path))
    y = torch.nn.functional.max_pool2d(torch.nn.functional.conv2d(torch.zeros(1, 3, 32, 32), torch.zeros(8, 3, 3, 3),
                                                                  stride=2), 3)
    expect(page.locator("#net-summary")).to_contain_text(" × ".join(map(str, y.shape[1:])))
    canvas = page.locator("#map-2")
    box = canvas.bounding_box()
    canvas.click(position={"x": box["width"] / 10, "y": box["height"] / 10})  # unit (0, 0)
    # unit 0 of the pool reads conv units 0..2, which read input 0..(2*2 + 2)
    expect(page.locator("#rf-info")).to_contain_text("rows 0–6, columns 0–6")


def test_one_dimensional_ops_draw_one_row(page, shot):
    page.goto(page.base + "?op=conv1d&input_size=9&kernel_size=3&stride=2&padding=1&dilation=2")
    y = torch.nn.functional.conv1d(torch.zeros(1, 1, 9), torch.zeros(1, 1, 3), stride=2, padding=1, dilation=2)
    expect(page.locator("#output-size")).to_have_text(f"output 1 × {y.shape[2]}")
    assert page.locator('#drawing svg[data-grid="input"] g.cell').count() == 9 + 2
    assert page.locator('#drawing svg[data-grid="output"] g.cell').count() == y.shape[2]
    page.hover('#drawing svg[data-grid="output"] g[data-cell="0,1"]')
    # output 1 starts at padded cell 2 and reads every second cell: 2, 4, 6; 3 and 5 are dilation gaps
    assert cells(page, '#drawing svg[data-grid="input"] g.tap') == {(0, 2), (0, 4), (0, 6)}
    assert cells(page, '#drawing svg[data-grid="input"] g.gap') == {(0, 3), (0, 5)}
    page.mouse.move(0, 0)
    page.keyboard.press("ArrowRight")
    expect(page.locator("#step-label")).to_have_text(f"step 2 / {y.shape[2]}")
    shot(page, "conv1d-dilation")
