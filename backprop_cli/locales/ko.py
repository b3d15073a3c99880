"""한국어 (Korean), in the terms of the seed page: 순전파, 가중합, 활성화 함수, 오차 계산, 역전파,
연쇄법칙, 학습률, 갱신."""

from backprop_cli.locales.hangul import KoreanFormatter

# pdflatex sets Hangul with ko.TeX (Debian: texlive-lang-korean).
LATEX_PACKAGES = ("kotex",)

MESSAGES = {
    "title.step": "역전파 풀이: 한 번의 학습 단계",
    "title.train": "학습 보고서",
    "network": "신경망",
    "network.summary": "{widths}, {activations}; {loss}; 학습률 α = {lr}",
    "network.summary.layers": "{widths}; {loss}; 학습률 α = {lr}",
    "sample": "샘플",
    "samples": "샘플 {count}개",
    "section.forward": "순전파",
    "section.loss": "오차 계산",
    "section.backward": "역전파",
    "section.batch": "배치 기울기",
    "section.update": "가중치와 편향 갱신",
    "section.summary": "요약",
    "section.code": "파이토치 코드로 본 학습 단계",
    "intro.code": (
        "같은 학습 단계를 파이토치로 float64에서 계산하는 코드입니다. output = model(x)가 순전파(1절),"
        " loss = criterion(output, y)가 오차 계산(2절), loss.backward()가 역전파(3절),"
        " optimizer.step()이 가중치와 편향 갱신입니다. python으로 실행하면 이 풀이의 모든 값을 JSON으로 출력합니다."
    ),
    "title.exercise": "연습 문제 {number}: 손으로 풀어 보는 한 번의 학습 단계",
    "title.exercise.document": "연습 문제지: 손으로 풀어 보는 역전파",
    "title.exercise.keys": "정답지: 손으로 풀어 보는 역전파",
    "exercise.key": "연습 문제 {number}의 정답.",
    "exercise.instructions": (
        "이 신경망의 학습 단계 하나를 직접 계산하여 모든 빈칸을 채우세요. 값은 소수점 아래"
        " {precision}자리로 반올림합니다. 답은 backprop check로 확인할 수 있습니다."
    ),
    "exercise.given": "주어진 값",
    "table.value": "값",
    "intro.forward": (
        "가중합 z는 입력값(x)과 가중치(W)의 곱을 모두 더한 값에 편향(b)을 더한 값이며, 각 유닛은"
        " 가중합에 활성화 함수를 적용합니다."
    ),
    "intro.loss": "실젯값(y)과 예측값(ŷ)으로 오차를 계산합니다.",
    "intro.backward": (
        "출력층부터 계층의 역순으로 연쇄법칙을 적용합니다. 모든 유닛의 δ = ∂𝓛/∂z를 구하면"
        " ∂𝓛/∂W = δ × (그 가중치에 곱해지는 입력값), ∂𝓛/∂b = δ입니다. 은닉 유닛의 ∂𝓛/∂a는"
        " 다음 계층으로 이어지는 모든 경로를 더한 값이며, 이미 구한 δ를 다시 씁니다."
    ),
    "intro.batch": "샘플마다 기울기를 구한 뒤, 갱신에 쓰는 배치 기울기를 계산합니다.",
    "intro.update": "경사 하강법으로 갱신합니다: θ(t+1) = θ(t) − α ∂𝓛/∂θ(t). t는 갱신 횟수, α = {lr:은} 학습률입니다.",
    "intro.update.momentum": (
        "모멘텀 SGD (torch.optim.SGD)로 갱신합니다: v(t+1) = μ v(t) + ∂𝓛/∂θ,"
        " θ(t+1) = θ(t) − α v(t+1), 학습률 α = {lr}, 모멘텀 μ = {momentum}{decay}, v의 초깃값은 0."
    ),
    "intro.update.adam": (
        "Adam (torch.optim.Adam)으로 갱신합니다: m = β₁m + (1 − β₁)g, v = β₂v + (1 − β₂)g²,"
        " 편향 보정 m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), θ(t+1) = θ(t) − α m̂/(√v̂ + ε);"
        " 단계 t = {t}, 학습률 α = {lr}, β₁ = {beta1}, β₂ = {beta2}, ε = {eps}{decay}."
    ),
    "intro.update.decay": (
        "가중치 감쇠를 더한 경사 하강법 (torch.optim.SGD): g = ∂𝓛/∂θ + λθ(t), θ(t+1) = θ(t) − α g,"
        " 학습률 α = {lr}, λ = {weight_decay}."
    ),
    "intro.update.adamw": (
        "AdamW (torch.optim.AdamW)로 갱신합니다: 먼저 가중치 감쇠 θ̃ = θ(t)(1 − αλ), 그다음 θ̃에서 Adam의 단계:"
        " m = β₁m + (1 − β₁)g, v = β₂v + (1 − β₂)g², m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ),"
        " θ(t+1) = θ̃ − α m̂/(√v̂ + ε); 단계 t = {t}, 학습률 α = {lr}, β₁ = {beta1}, β₂ = {beta2}, ε = {eps}{decay}."
    ),
    "intro.update.rmsprop": (
        "RMSprop (torch.optim.RMSprop)으로 갱신합니다: v = ρv + (1 − ρ)g², θ(t+1) = θ(t) − α g/(√v + ε)"
        " (모멘텀 μ > 0이면 B = μB + g/(√v + ε), θ(t+1) = θ(t) − αB); 학습률 α = {lr}, ρ = {alpha}, ε = {eps},"
        " μ = {momentum}{decay}; v의 초깃값은 0."
    ),
    "intro.update.rmsprop.centered": (
        "중심화 RMSprop (torch.optim.RMSprop)으로 갱신합니다: v = ρv + (1 − ρ)g², ḡ = ρḡ + (1 − ρ)g,"
        " θ(t+1) = θ(t) − α g/(√(v − ḡ²) + ε) (모멘텀 μ > 0이면 B = μB + g/(√(v − ḡ²) + ε)를 거쳐);"
        " 학습률 α = {lr}, ρ = {alpha}, ε = {eps}, μ = {momentum}{decay}."
    ),
    "group.layer": "{layer:번째} 계층 ({inputs} → {units}, {activation})",
    "group.output_layer": "{layer:번째} 계층: 출력층 ({inputs} → {units}, {activation})",
    "group.sample": "샘플 {sample}: x = {x}, y = {y}",
    "group.loss": "오차",
    "group.output_delta": "{layer:번째} 계층: 출력층",
    "group.hidden_delta": "{layer:번째} 계층",
    "note.frozen": "고정: 편향은 갱신하지 않습니다",
    "note.sum_to_one": "{total} = 1이므로",
    "note.bce_sigmoid": "출력이 시그모이드이면 δ는 (ŷ − y)/N으로 간단해집니다",
    "table.parameter": "매개변수",
    "table.before": "갱신 전",
    "table.gradient": "∂𝓛/∂θ",
    "table.after": "갱신 후",
    "loss.before_after": "갱신 전 오차 {before}, 갱신 후 오차 {after}",
    "rounding.carry": "반올림: 손으로 풀 때처럼 각 줄의 값을 소수점 {precision}자리로 반올림해 다음 줄에 씁니다.",
    "rounding.exact": "값은 float64로 정확히 계산하고, 소수점 {precision}자리까지 표시합니다.",
    "form.matrix": "행렬 형식",
    "matrix.shape": "{rows} × {cols}",
    "matrix.elided": "{limit}개를 넘는 행과 열은 가운데를 생략합니다 (⋯, ⋮)",
    "group.output_delta.sample": "샘플 {sample}: {layer:번째} 계층 (출력층)",
    "group.hidden_delta.sample": "샘플 {sample}: {layer:번째} 계층",
    "group.update_layer": "{layer:번째} 계층",
    "section.graph": "계산 그래프",
    "title.graph": "계산 그래프: 오차와 오차가 의존하는 모든 값",
    "intro.graph": (
        "각 노드에 값과, 이 단계에서 구한 경우 그 노드에 대한 오차의 기울기를 적었습니다."
        " 화살표는 입력에서 그 입력을 쓰는 쪽으로 향합니다."
    ),
    "intro.graph.batch": (
        "각 노드에 샘플 {count}개 각각의 값을, 매개변수에는 배치 기울기 ∂𝓛/∂θ를 적었습니다."
        " 화살표는 입력에서 그 입력을 쓰는 쪽으로 향합니다."
    ),
    "graph.seen": "위에서 펼침",
    "intro.forward.matrix": (
        "배치 전체를 한 번에 계산합니다. 모든 행렬의 n번째 행이 n번째 샘플입니다 ({samples})."
        " 각 계층은 입력에 전치한 가중치를 곱하고 편향 행을 더한 뒤, 활성화 함수를 원소별로 적용합니다."
    ),
    "intro.backward.matrix": (
        "출력층부터 거꾸로 행렬로 연쇄법칙을 적용합니다: δ⁽ˡ⁾ = ∂𝓛/∂Z⁽ˡ⁾,"
        " ∂𝓛/∂W⁽ˡ⁾ = δ⁽ˡ⁾ᵀA⁽ˡ⁻¹⁾ (행렬곱이 샘플들에 대해 더합니다), ∂𝓛/∂b⁽ˡ⁾ = 1ᵀδ⁽ˡ⁾"
        " (열의 합), δ⁽ˡ⁻¹⁾ = (δ⁽ˡ⁾W⁽ˡ⁾) ⊙ f′(Z⁽ˡ⁻¹⁾)."
    ),
    "intro.forward.matrix_transposed": (
        "배치 전체를 한 번에 계산합니다. 모든 행렬의 n번째 행이 n번째 샘플입니다 ({samples})."
        " W⁽ˡ⁾는 입력 × 유닛으로 씁니다(샘플 하나에 대해 z = Wᵀx, torch의 가중치를 전치한 것). 각 계층은 입력에"
        " 가중치를 곱하고 편향 행을 더한 뒤, 활성화 함수를 원소별로 적용합니다."
    ),
    "intro.backward.matrix_transposed": (
        "출력층부터 거꾸로 행렬로 연쇄법칙을 적용합니다: δ⁽ˡ⁾ = ∂𝓛/∂Z⁽ˡ⁾,"
        " ∂𝓛/∂W⁽ˡ⁾ = A⁽ˡ⁻¹⁾ᵀδ⁽ˡ⁾ (행렬곱이 샘플들에 대해 더합니다), ∂𝓛/∂b⁽ˡ⁾ = 1ᵀδ⁽ˡ⁾"
        " (열의 합), δ⁽ˡ⁻¹⁾ = (δ⁽ˡ⁾W⁽ˡ⁾ᵀ) ⊙ f′(Z⁽ˡ⁻¹⁾)."
    ),
    "intro.forward.maps": (
        "배치 전체를 한 번에 계산합니다. 모든 행렬의 n번째 행이 n번째 샘플이고 ({samples}), 특성 맵을"
        " 채널별, 행별로 펼친 것입니다 (맵이 적으면 격자로도 다시 그립니다). 각 계층의 줄이 무엇을 계산하는지"
        " 말합니다. 합성곱은 커널을 맵 위로 움직이고, 풀링은 창마다 최댓값이나 평균을 취하고, 완전 연결"
        " 계층은 가중치를 곱합니다."
    ),
    "matrix.broadcast": "{bias:는} 한 행이며, {samples}개의 행 각각에 더해집니다 (브로드캐스트)",
    "matrix.elementwise": "원소별 계산",
    "matrix.softmax": "소프트맥스는 행마다 적용합니다: Z의 각 행이 한 샘플의 로짓입니다",
    "matrix.log_softmax": "log_softmax는 행마다 적용합니다: Z에서 각 행의 exp 합의 로그를 뺍니다 (최댓값을 먼저 빼서)",
    "matrix.delta_log_softmax": "log_softmax의 야코비안 I − 1 exp(ŷ)ᵀ을 행마다 적용합니다",
    "matrix.column_sums": "δ의 열의 합이 샘플 {samples}개의 기여를 더합니다",
    "matrix.delta_softmax_ce": (
        "소프트맥스와 교차 엔트로피를 함께 미분하면 ∂𝓛/∂Z = (Ŷ − Y)/{n}입니다."
        " Y의 각 행의 합이 1이기 때문입니다"
    ),
    "matrix.delta_softmax_ce_general": (
        "소프트맥스와 교차 엔트로피를 함께 미분합니다: Ŷ의 각 행에 Y의 그 행의 합을 곱하고,"
        " Y를 뺀 뒤 {n:으로} 나눕니다"
    ),
    "matrix.delta_softmax_ce_positions": (
        "소프트맥스와 교차 엔트로피를 위치마다 함께 미분합니다: ∂𝓛/∂Z = (Ŷ − Y)/{n}(샘플 {samples}개 × 위치"
        " {positions}개, CrossEntropyLoss가 평균을 내는 수). Y의 위치마다의 블록은 합이 1이기 때문입니다"
    ),
    "matrix.delta_softmax_ce_positions_general": (
        "소프트맥스와 교차 엔트로피를 위치마다 함께 미분합니다: Ŷ의 위치마다의 블록에 Y의 같은 블록의 합을"
        " 곱하고, Y를 뺀 뒤 {n:으로} 나눕니다(샘플 {samples}개 × 위치 {positions}개)"
    ),
    "matrix.delta_softmax": "소프트맥스의 야코비 행렬 diag(ŷ) − ŷŷᵀ을 행마다 적용합니다",
    "matrix.delta_sigmoid_bce": "출력이 시그모이드이고 손실이 bce이면 Ŷ(1 − Ŷ)가 약분됩니다: δ = {simplified}",
    "train.title": "학습",
    "train.optimizer.sgd": "SGD, 학습률 α = {lr}{decay}",
    "train.optimizer.momentum": "모멘텀 SGD, 모멘텀 μ = {momentum}, 학습률 α = {lr}{decay}",
    "train.optimizer.adam": "Adam, β₁ = {beta1}, β₂ = {beta2}, ε = {eps}, 학습률 α = {lr}{decay}",
    "train.optimizer.adamw": "AdamW, β₁ = {beta1}, β₂ = {beta2}, ε = {eps}, 학습률 α = {lr}{decay}",
    "train.optimizer.rmsprop": "RMSprop, ρ = {alpha}, ε = {eps}, μ = {momentum}, {decay}학습률 α = {lr}",
    "train.network": "{widths}, {activations}; {loss}",
    "train.optimizer": "최적화 함수",
    "train.data": "데이터",
    "train.data.summary": "{data}, {samples}; {batches}",
    "samples.one": "샘플 1개",
    "train.batches.full": "전체 배치, 에폭마다 한 번 갱신",
    "train.batches.size": "배치 크기 {size}, 에폭마다 {updates}번 갱신",
    "train.batches.shuffled": "배치 크기 {size}, 시드 {seed:으로} 섞음, 에폭마다 {updates}번 갱신",
    "train.engine": "엔진",
    "train.engine.summary": "{backend}, {device}, {dtype}",
    "train.engine.auto": "{backend}, {device}, {dtype} (자동 선택: {reason})",
    "train.run": "실행",
    "train.run.summary": "{epochs} 에폭, {seconds}초 (초당 {rate} 에폭)",
    "train.interrupted": "Ctrl-C로 {asked} 에폭 중 {done} 에폭 후에 멈췄습니다.",
    "train.loss": "오차",
    "train.loss.intro": "각 에폭의 갱신 전에 전체 데이터로 계산한 오차입니다.",
    "train.loss.final": "마지막 에폭 후: {loss}",
    "train.curve": "오차 곡선",
    "train.curve.log": "로그 축의 오차",
    "train.curve.linear": "선형 축의 오차",
    "train.parameters": "학습된 매개변수",
    "train.predictions": "예측값",
    "train.predictions.more": "… 외 샘플 {count}개",
    "train.predictions.classes": "ŷ와 y: 각 위치의 클래스 (ŷ는 확률이 가장 큰 클래스)",
    "train.rows.elided": "여기서 {count}개 행을 생략했습니다. --format json 또는 --output FILE.md에는 모두 있습니다",
    "train.step": "에폭 {epoch}",
    "train.step.batch": "에폭 {epoch}, 배치 {batches}개 중 {batch}번째",
    "train.settings": "설정",
    "data.seed": "원래 예제의 샘플",
    "data.options": "--x/--y",
    "data.spec": "명세 파일의 [data]",
    "table.epoch": "에폭",
    "table.loss": "오차",
    "table.layer": "계층",
    "table.weight": "가중치",
    "table.bias": "편향",
    "table.sample": "샘플",
    "table.input": "x",
    "table.prediction": "ŷ",
    "table.target": "y",
}
MESSAGES.update({
    "check.expected": "정답 {value}",
    "check.first": "← 처음으로 틀린 줄",
    "check.right": "✓ 적은 값 {given}",
    "check.wrong": "✗ 적은 값 {given}, 이 줄의 값은 {expected}입니다. {why}",
    "check.wrong.first": "✗ 처음으로 틀린 줄: 적은 값 {given}, 이 줄의 값은 {expected}입니다. {why}",
    "check.joined": "{first} {second}",
    "check.all": "{count}개 모두 맞았습니다",
    "check.some": "{count}개 중 {right}개 맞았습니다",
    "check.unknown": "알려진 실수 가운데 이 값이 나오는 것은 없습니다.",
    "check.implies": "{mistake}에 해당합니다. 그렇게 계산하면 {value}입니다.",
    "mistake.missing_activation_derivative": "연쇄 법칙에서 활성화 함수의 도함수를 빠뜨린 경우",
    "mistake.updated_weight_used": "역전파에 이미 갱신된 가중치를 쓴 경우",
    "mistake.update_sign": "갱신에서 기울기를 더한 경우(θ + α·∂𝓛/∂θ)",
    "mistake.missing_learning_rate": "갱신에서 학습률을 빠뜨린 경우(θ − ∂𝓛/∂θ)",
    "mistake.sign": "부호를 잘못 쓴 경우(이 줄의 값에 반대 부호)",
    "mistake.mse_factor": "(ŷ − y)²의 2를 빠뜨렸거나, 반으로 나누는 오차에서 2를 남긴 경우",
    "mistake.mean_vs_sum": "평균을 내야 할 곳에서 합을 쓴 경우(배치나 오차의 축약), 또는 그 반대",
    "mistake.swapped_index": "이 유닛 대신 다른 유닛의 가중치나 입력을 쓴 경우",
    "mistake.z_for_a": "활성화 값 자리에 가중합 z를 쓴 경우, 또는 그 반대",
    "mistake.rounding": "앞 줄에서 자릿수를 너무 적게 남긴 경우",
    "table.validation": "검증",
    "train.validation.curve": "검증 오차 곡선",
    "train.validation.final": ". 따로 떼어 둔 샘플({count}개)의 오차: {loss}",
    "train.stopped": (
        "{patience}에폭 동안 {loss:가} {delta}보다 크게 줄지 않아 {epoch}번째 에폭 전에 조기 종료했습니다."
    ),
    "train.watched.validation": "검증 오차",
    "train.watched.training": "오차",
    "plot.training": "학습",
    "plot.validation": "검증",
    "title.verify": "기울기 검증: 풀이를 독립된 기준과 비교",
    "verify.loss": "오차",
    "table.derivation": "∂𝓛/∂θ",
    "table.autograd_abs": "autograd\n|Δ|",
    "table.fd_abs": "유한 차분\n|Δ|",
    "table.rel": "\n상대",
    "verify.autograd": "PyTorch {version} autograd (float64): 허용 오차 {rtol}·|기준| + {atol}·s.",
    "verify.no_torch": "PyTorch가 설치되어 있지 않아 autograd와는 비교하지 않았습니다 (pip install torch).",
    "verify.fd_numpy": (
        "네트워크가 커서 유한 차분의 오차는 도출의 각 줄이 아니라"
        " numpy 엔진의 행렬 순전파로 계산합니다."),
    "verify.fd": "중앙 차분, h = {step}·max(1, |θ|): 허용 오차 {rtol}·|기준| + {atol}·s.",
    "verify.scale": "일치: |Δ| ≤ 허용 오차, s = max(1, |𝓛|, 가장 큰 |∂𝓛/∂θ|) = {scale}.",
    "verify.mark.kink": "꺾인 점",
    "verify.mark.floor": "하한",
    "verify.mark.tie": "동률",
    "verify.tie": (
        "동률: 최대 풀링의 같은 두 값을 PyTorch의 반올림이 구별합니다. 유도의 기울기는 동률의 한쪽에서,"
        " PyTorch의 기울기는 다른 쪽에서의 오차의 미분입니다 (한쪽 차분이 둘 다 확인함). 인정합니다."
    ),
    "verify.ok.ties": "autograd의 |Δ|는 동률로 표시된 {ties}개 행을 뺀 값입니다.",
    "verify.kink": (
        "꺾인 점: 어떤 유닛이 활성화 함수가 미분 가능하지 않은 점에 있습니다 (0에서의 relu, abs, max, min)."
        " 그곳의 기울기는 PyTorch의 관례이며, 오차의 왼쪽 미분과 오른쪽 미분 사이에 있으면(하방 기울기)"
        " 인정하고, 아니면 autograd로 판정합니다."
    ),
    "verify.floor": (
        "하한: 출력이 0 또는 1에 1e-12 이내로 가까워, bce의 기울기가 PyTorch처럼 ŷ(1 − ŷ)를"
        " 1e-12로 하한 처리합니다. 그곳의 기울기는 오차의 도함수가 아니므로 유한 차분은 적용되지"
        " 않고 autograd로 판정합니다."
    ),
    "verify.ok.both": (
        "✓ 기울기 {count}개 모두 일치 (가장 큰 |Δ|: autograd {autograd}, 유한 차분 {fd})."
    ),
    "verify.ok.fd": "✓ 기울기 {count}개 모두 일치 (가장 큰 |Δ|: 유한 차분 {fd}).",
    "verify.ok.both.one": "✓ 기울기가 일치합니다 (|Δ|: autograd {autograd}, 유한 차분 {fd}).",
    "verify.ok.fd.one": "✓ 기울기가 일치합니다 (|Δ|: 유한 차분 {fd}).",
    "verify.fail": "✗ 기울기 {count}개 중 {failed}개가 일치하지 않습니다: {names}.",
})
MESSAGES.update({
    "engine.reason.option": "{option}",
    "engine.reason.shuffle": "섞은 배치",
    "engine.reason.numba": ("{epochs} 에포크 × 에포크마다 {other}보다 {saving} µs 절약이"
                            " {engine} 컴파일 시간(약 {compile}초)보다 큼"),
    "engine.reason.fused.cached": ("{epochs} 에포크 × 에포크마다 {other}보다 {saving} µs 절약이"
                                   " 융합 {engine} 엔진의 시작 시간(약 {start}초, 기계어 캐시됨)보다 큼"),
    "engine.reason.fused.compile": ("{epochs} 에포크 × 에포크마다 {other}보다 {saving} µs 절약이"
                                    " 이 컴퓨터에서 융합 {engine} 엔진을 한 번 컴파일하는 시간(약 {start}초)보다 큼"),
    "engine.reason.compiled": "매개변수 {parameters}개 × {samples}: 컴파일하기에 충분히 작음",
    "engine.reason.numpy": "매개변수 {parameters}개 × {samples}: 행렬 연산이 유리함",
    "engine.reason.numpy.large": ("청크 단위 계산이 프로세스 {processes}개로 에포크마다 약 {numpy} ms,"
                                  " 융합 {engine} 엔진은 스레드 {threads}개로 약 {fused} ms"),
    "train.run.epochs": "{epochs} 에폭",
    "train.curve.log10": "log₁₀ 오차",
    "train.progress.rate": "초당 {rate} 에폭",
    "plot.title": "{widths}, {loss}, {optimizer} (학습률 {lr}): 마지막 오차 {final}",
    "plot.epoch": "에폭",
    "plot.loss": "오차 (각 에폭의 갱신 전)",
})

# 밀집층 밖의 층 종류(layers/): 제목과 설명.
MESSAGES.update({
    "engine.reason.kinds": "{kinds} 층: 행렬 형태",
    "status.step": "한 단계를 계산하는 중…",
    "status.train": "학습하는 중…",
    "status.verify": "모든 기울기를 확인하는 중…",
    "kind.activation.title": "{layer:번째} 계층 (활성화 함수 {activation}, 유닛 {units}개)",
    "kind.dropout.title": "{layer:번째} 계층 (드롭아웃, p = {p}, 유닛 {units}개)",
    "kind.dropout.mask": "M은 샘플마다 남기는 유닛(1)의 마스크이고, 학습 때처럼 남은 유닛에 1/(1 − p)를 곱합니다",
    "kind.dropout.mask_drawn": (
        "M은 샘플마다 남기는 유닛(1)의 마스크로, 시드 {seed}에서 확률 1 − p로 뽑았고,"
        " 학습 때처럼 남은 유닛에 1/(1 − p)를 곱합니다"
    ),
    "kind.batch_norm.title": "{layer:번째} 계층 (배치 정규화, 특성 {units}개, ε = {eps})",
    "kind.batch_norm.mean": "배치의 샘플 {samples}개에 대한 특성별 평균",
    "kind.batch_norm.variance": "편향 분산 (개수 − 1이 아니라 개수로 나눕니다)",
    "kind.batch_norm.running": (
        "이 단계 뒤의 이동 통계 (모멘텀 {momentum}, 분산은 불편 분산): 평균 {mean}, 분산 {var}"
    ),
    "kind.batch_norm.running_lines": (
        "이 단계 뒤의 이동 통계, torch가 갱신하는 대로 (모멘텀 {momentum}; 분산은 불편 분산, σ²의 N/(N − 1)배)"
    ),
    "kind.batch_norm.through_variance": "X̂의 모든 행이 σ²에 의존하므로 행마다의 기여를 더합니다",
    "kind.batch_norm.through_mean": "μ는 X̂를 거쳐 곧바로, 그리고 σ²를 거쳐 𝓛에 닿습니다",
    "kind.batch_norm.three_paths": "각 입력은 X̂, σ², μ의 세 경로로 𝓛에 닿습니다",
    "kind.batch_norm.compact": "같은 값을 간결한 형태로",
    "kind.layer_norm.title": "{layer:번째} 계층 (층 정규화, 특성 {units}개, ε = {eps})",
    "kind.layer_norm.mean": "샘플마다 특성 {features}개에 대한 평균",
    "kind.layer_norm.backward": (
        "각 샘플(행)의 X̂, σ², μ를 한꺼번에 거치는, 배치 정규화의 세 경로를 간결하게 쓴 형태"
        " (한 행의 특성 {features}개에 대해)"
    ),
    "kind.conv.title": (
        "{layer:번째} 계층 ({kind}: {inputs} → {outputs}, 커널 {channels}개 {kernel}, 스트라이드 {stride},"
        " 패딩 {padding}, {activation})"
    ),
    "kind.conv.scalar": (
        "출력의 각 원소는 입력 채널 {channels}개에 걸쳐 입력의 {kernel} 창과 커널을 곱해 더한 값에 그 채널의 편향을"
        " 더한 것입니다. z⁽ˡ⁾_c,i,j는 출력 채널 c의 i행 j열입니다"
    ),
    "kind.conv.matrix": (
        "⋆는 nn.Conv2d가 계산하는 교차 상관입니다. {kernel} 커널 {channels}개가 {inputs} 입력 위를 움직입니다."
        " K의 각 행은 커널 하나(입력 채널, 행, 열)이고, A와 Z의 각 행은 샘플 하나의 특성 맵(Z는 {outputs})을"
        " 채널별, 행별로 펼친 것입니다"
    ),
    "kind.conv.kernel_gradient": (
        "커널은 {positions}개 위치 모두에서 공유됩니다. 커널의 각 가중치는 모든 위치와 샘플 {samples}개에 걸쳐"
        " δ와 그때 만난 입력의 곱을 더합니다. 즉 입력과 δ의 교차 상관입니다"
    ),
    "kind.conv.bias_gradient": "채널마다 편향은 그 채널의 δ를 모든 위치와 샘플에 걸쳐 더합니다",
    "kind.conv.maps": "같은 값을 {shape} 특성 맵으로, 채널마다 격자 하나씩 (층 번호 뒤는 샘플 번호)",
    "kind.conv.unfold": (
        "im2col: 입력을 펼쳐 커널 위치마다 한 행(샘플마다 {positions}개, 샘플 {samples}개)에 그 창의 입력을"
        " K의 열 순서대로 담습니다"
    ),
    "kind.conv.im2col": "Z와 같은 값을 행렬곱 하나로 구합니다. 행은 위치, 열은 출력 채널입니다",
    "kind.conv.kernels": "커널마다 격자 하나. 아래 첨자 o,c는 입력 채널 c에서 출력 채널 o로 가는 커널입니다",
    "kind.conv.input_gradient": (
        "∗는 완전 합성곱입니다. 각 입력은 자신이 들어 있던 모든 창에서 δ·K를 모읍니다(δ에 패딩을 붙이고"
        " 커널을 뒤집습니다)"
    ),
    "kind.rnn.title": (
        "{layer:번째} 계층 ({kind}, {nonlinearity}: 특성"
        " {features}개 × {steps}단계 → 은닉 {hidden}, 출력 {output})"
    ),
    "kind.lstm.title": "{layer:번째} 계층 ({kind}: 특성 {features}개 × {steps}단계 → 은닉 {hidden}, 출력 {output})",
    "kind.gru.title": "{layer:번째} 계층 ({kind}: 특성 {features}개 × {steps}단계 → 은닉 {hidden}, 출력 {output})",
    "kind.recurrent.inputs": "시간에 따라 펼친 입력: X_t는 모든 샘플의 t단계입니다(샘플마다 한 행), t = 1…{steps}",
    "kind.recurrent.h0": "주어진 초기 은닉 상태(h0)",
    "kind.recurrent.zero": "초기 상태: h0가 없을 때 torch처럼 0",
    "kind.recurrent.gates": (
        "torch는 W_ih, W_hh, b_ih, b_hh에 게이트의 행을 {gates}"
        " 순서로 쌓습니다. 게이트마다 그 행에 이름을 붙입니다"
    ),
    "kind.recurrent.last": "{setting}: 이 계층의 출력은 마지막 은닉 상태입니다",
    "kind.recurrent.all": (
        "{setting}: 이 계층의 출력은 모든 은닉 상태 H_1 …"
        " H_{steps}를 나란히 둔 것입니다(각 {hidden}개)"
    ),
    "kind.recurrent.backward_last": "시간을 거슬러 역전파합니다. 마지막 단계에서 첫 단계까지",
    "kind.recurrent.backward_sum": "∂𝓛/∂H_t는 t에서 출력이 주는 값과 t + 1단계가 W_hh를 거쳐 돌려주는 값의 합입니다",
    "kind.recurrent.bptt": (
        "{setting}: 잘린 BPTT입니다. PyTorch 반복문처럼 {steps}단계씩 나누어 돌리고 구간 사이에서 상태를 떼어 냅니다"
        "(h.detach()). 기울기는 자기 구간의 처음까지만 거슬러 갑니다"
    ),
    "kind.recurrent.detached": "{state}는 구간의 끝입니다. 다음 구간은 떼어 낸 값을 읽었으므로 출력 쪽 값만 돌아옵니다",
    "kind.recurrent.scalar_sum": (
        "∂𝓛/∂h_t,j는 h_t,j를 읽는 모든 노드가 돌려주는 값의 합입니다. t의 출력(층의 출력에 들어 있을 때)과"
        " t + 1단계의 모든 게이트입니다"
    ),
    "kind.recurrent.scalar_shared": (
        "가중치는 {steps}단계 모두가 공유합니다. 기울기는 단계(와 샘플)마다 한 항씩 있습니다"
    ),
    "kind.recurrent.vanishing": "t = 1…T의 |∂𝓛/∂H_t|(배치 전체의 노름). 한 단계 거슬러 갈 때마다 {ratios} 배가 됩니다",
    "kind.recurrent.shared": "가중치는 {steps}단계 모두가 공유합니다. 기울기는 단계마다 한 항씩 더한 합입니다",
    "kind.recurrent.stacked": "게이트들의 δ를 W_ih의 행 순서({gates})대로 나란히 둔 것",
    "kind.recurrent.input_gradient": "각 단계의 입력은 δ_t W_ih를 받습니다. 입력의 행처럼 나란히 둡니다",
    "kind.rnn.step": "각 단계: 입력 부분과 이전 상태 부분을 더한 뒤 비선형 함수",
    "kind.lstm.i": "입력 게이트 i: 후보 g가 셀에 얼마나 들어가는지",
    "kind.lstm.f": "망각 게이트 f: 셀을 얼마나 남기는지",
    "kind.lstm.g": "후보 g (tanh)",
    "kind.lstm.o": "출력 게이트 o: 셀을 얼마나 내보내는지",
    "kind.lstm.c": "셀: 남긴 부분과 새 부분의 합",
    "kind.lstm.dc": "∂𝓛/∂C_t: H_t = O_t ⊙ tanh(C_t)를 거친 값과 Cₜ₊₁ = Fₜ₊₁ ⊙ C_t + …가 돌려주는 값의 합",
    "kind.gru.r": "리셋 게이트 r",
    "kind.gru.z": "업데이트 게이트 z",
    "kind.gru.n": "후보 n, torch의 형태: r은 편향을 더한 은닉 부분에 곱합니다",
    "kind.gru.h": "새 상태: 후보의 (1 − z)와 이전 상태의 z",
    "kind.gru.backward": "∂𝓛/∂H_t에서 구한 각 게이트의 δ(활성화 전)",
    "kind.gru.delta_h": "W_hh와 b_hh에 가는 값: r, z는 위와 같고, n 게이트의 은닉 부분은 δ_n ⊙ R_t",
    "kind.recurrent.dense_title": "{layer:번째} 계층 ({steps}단계마다 {inputs} → {units}, {activation})",
    "kind.recurrent.dense_steps": (
        "모든 시간 단계에 같은 가중치를 씁니다(nn.Linear를 (N, T, H)에 적용). 각 행에는 {inputs}개씩"
        " {steps}단계가 나란히 있고, 단계마다 따로 Wᵀ를 곱합니다"
    ),
    "kind.recurrent.softmax_steps": (
        "{steps}단계 각각에서 소프트맥스: 단계마다 로짓 {units}개 블록에 따로 적용합니다((N, T, {units})의"
        " 마지막 축에 소프트맥스)"
    ),
    "kind.recurrent.dense_shared": (
        "W는 {steps}단계 모두가 공유합니다. 기울기는 단계와 샘플에 걸쳐 δ_tᵀ A_t를 더한 것입니다"
    ),
    "kind.positional.title": "{layer:번째} 계층 (사인파 위치 더하기, 위치 {steps}개 × {dim})",
    "kind.positional.title_learned": "{layer:번째} 계층 (학습하는 위치 더하기, 위치 {steps}개 × {dim})",
    "kind.positional.sinusoidal": (
        "고정: P[t, 2i] = sin(t / 10000^(2i/{dim})), P[t, 2i+1] = cos(t / 10000^(2i/{dim})), 위치 t마다 한 행"
    ),
    "kind.positional.learned": (
        "학습: 위치마다 한 행, 위치 0 … {steps} − 1을 토큰으로 읽는 {steps}행 임베딩과 같습니다"
    ),
    "kind.positional.added": "P의 t번째 행을 모든 샘플의 위치 t에 더합니다(위치 {steps}개가 나란히)",
    "kind.positional.gradient": "위치마다의 ∂𝓛/∂A 블록을 샘플에 걸쳐 더합니다. ∂𝓛/∂(입력)은 ∂𝓛/∂A 그대로입니다",
    "kind.embedding.title": "{layer:번째} 계층 (임베딩: 토큰 {vocabulary}개 × {dim}, 위치 {steps}개)",
    "kind.embedding.one_hot": "위치 t의 토큰을 {vocabulary}칸 원-핫 행으로: 각 샘플의 토큰 번호 열에 1",
    "kind.embedding.rows": "원-핫 행에 E를 곱하면 그 토큰의 E 행이 골라집니다(nn.Embedding은 그 행을 찾아 읽습니다)",
    "kind.embedding.output": "계층의 출력은 모든 위치의 벡터 A_1 … A_{steps}를 나란히 놓은 것입니다(각각 {dim}개)",
    "kind.embedding.blocks": "위치마다의 ∂𝓛/∂A 블록(값 {dim}개)",
    "kind.embedding.unused": (
        "∂𝓛/∂E의 v번째 행은 토큰이 v인 위치들의 ∂𝓛/∂A_t를 더한 것입니다. {rows}번 행(배치에 없는 토큰)은"
        " 기울기를 받지 않습니다"
    ),
    "kind.embedding.unused_one": (
        "∂𝓛/∂E의 v번째 행은 토큰이 v인 위치들의 ∂𝓛/∂A_t를 더한 것입니다. {rows}번 행(배치에 없는 토큰)은"
        " 기울기를 받지 않습니다"
    ),
    "kind.embedding.all_used": (
        "∂𝓛/∂E의 v번째 행은 토큰이 v인 위치들의 ∂𝓛/∂A_t를 더한 것입니다. 모든 토큰이 배치에 있습니다"
    ),
    "group.clip": "기울기 클리핑, {how}",
    "clip.norm": "기울기 {count}개 전체의 2-노름(torch의 클리핑이 재는 값)",
    "clip.scale": "clip_grad_norm_은 모든 기울기에 min(1, {limit} / (노름 + 1e-6))을 곱합니다",
    "clip.value": "clip_grad_value_는 모든 기울기를 [−{limit}, {limit}]로 자릅니다",
    "clip.after": "클리핑한 뒤의 2-노름. 갱신에는 클리핑한 기울기를 씁니다",
    "kind.pool.title": "{layer:번째} 계층 ({kind}: {inputs} → {outputs}, 창 {kernel}, 스트라이드 {stride})",
    "kind.pool.max_scalar": (
        "각 창의 최댓값입니다. ∂a/∂x는 최댓값이었던 입력(같으면 첫 번째)에 1, 나머지에 0이므로"
        " 기울기는 최댓값으로만 갑니다"
    ),
    "kind.pool.avg_scalar": "{size}개짜리 창의 평균입니다. 모든 입력이 기울기를 똑같이 나눠 받습니다",
    "kind.pool.max_matrix": "채널마다 {kernel} 창(스트라이드 {stride})의 최댓값",
    "kind.pool.avg_matrix": "채널마다 {kernel} 창(스트라이드 {stride})의 평균",
    "kind.pool.max_backward": (
        "각 창의 기울기는 그 창의 최댓값이었던 입력(같으면 첫 번째)으로 가고 나머지는 0입니다."
        " 창이 겹치면 더합니다"
    ),
    "kind.pool.avg_backward": "각 창의 기울기를 입력 {size}개가 똑같이 나눕니다. 창이 겹치면 더합니다",
    "kind.flatten.title": "{layer:번째} 계층 (평탄화: {inputs} → {units})",
    "kind.flatten.scalar": (
        "특성 맵을 채널별, 행별로 읽어 벡터 하나로 만듭니다. 값은 그대로이고 기울기도 그대로 돌아갑니다"
    ),
    "kind.flatten.matrix": (
        "샘플마다 {shape} 특성 맵을 채널별, 행별로 한 행에 펼칩니다. 값(역방향에서는 기울기)은 그대로입니다"
    ),
    "kind.unused": "이 값을 쓰는 다음 노드가 없으므로(창이 건너뜁니다) 기울기는 0입니다",
    "kind.elided": "항 {total}개 중 {shown}개만 보입니다(⋯는 나머지). 값은 {total}개를 모두 더한 것입니다",
    "kind.residual.title": "{layer:번째} 계층 (잔차 연결, 유닛 {units}개)",
    "intro.forward.kinds": (
        "유닛 하나씩: 각 층의 노드를 앞선 노드로 계산합니다. l층의 j번째 유닛은 a⁽ˡ⁾ⱼ이고, 그 뒤의 번호는 샘플입니다."
    ),
    "intro.backward.kinds": (
        "출력에서부터 노드 하나씩 연쇄법칙: ∂𝓛/∂v는 v를 쓰는 노드 u마다 ∂𝓛/∂u · ∂u/∂v를 더한 값이고,"
        " ∂u/∂v는 u의 식에서 구합니다. 모든 샘플이 쓰는 파라미터는 샘플마다의 기여를 더합니다."
    ),
    "kind.residual.forward": "블록의 입력을 출력에 더합니다: 건너뛰는 연결",
    "kind.residual.backward": "두 경로가 여기서 만납니다: 건너뛰는 연결을 곧장 지나는 경로와 블록을 거꾸로 지나는 경로",
})

# 함수, 손실 함수, 층 종류의 이름 (locales.name): 원래 예제처럼 시그모이드 함수, 이진 교차 엔트로피.
MESSAGES.update({
    "name.sigmoid": "시그모이드 함수",
    "name.tanh": "하이퍼볼릭 탄젠트 함수",
    "name.relu": "ReLU 함수",
    "name.leaky_relu": "Leaky ReLU 함수",
    "name.identity": "항등 함수",
    "name.softmax": "소프트맥스 함수",
    "name.log_softmax": "로그 소프트맥스 함수",
    "name.bce": "이진 교차 엔트로피",
    "name.mse": "평균 제곱 오차",
    "name.sse": "오차 제곱합",
    "name.half_sse": "오차 제곱합의 절반",
    "name.cross_entropy": "교차 엔트로피",
    "name.nll": "음의 로그 가능도",
    "name.l1": "평균 절대 오차",
    "name.smooth_l1": "스무스 L1 오차",
    "name.dropout": "드롭아웃",
    "name.batch_norm": "배치 정규화",
    "name.layer_norm": "층 정규화",
    "name.conv1d": "1차원 합성곱",
    "name.conv2d": "2차원 합성곱",
    "name.max_pool1d": "1차원 최대 풀링",
    "name.max_pool2d": "2차원 최대 풀링",
    "name.avg_pool1d": "1차원 평균 풀링",
    "name.avg_pool2d": "2차원 평균 풀링",
    "name.flatten": "평탄화",
    "name.residual": "잔차 연결",
    "name.embedding": "임베딩",
    "name.positional_sinusoidal": "사인파 위치 인코딩",
    "name.positional_learned": "학습하는 위치 인코딩",
    "name.positional": "위치 인코딩",
    # 조건에 따라 정의가 나뉘는 함수 (ReLU의 도함수): 조건을 둘러싼 말.
    "intro.update.order": (
        "역전파와 같이 계층의 역순으로, 출력층부터 갱신합니다. 모든 갱신은 매개변수가 바뀌기 전에 위에서 구한"
        " 기울기를 쓰므로, 순서가 달라도 값은 같습니다."
    ),
    "why.chain_rule": (
        "연쇄법칙의 일반형: 은닉 유닛 j의 오차는 j의 출력을 입력으로 받는 유닛 k들의 오차에 그 사이의 가중치를"
        " 곱해 모두 더한 뒤, 자신의 활성화 함수의 기울기를 곱한 값입니다: δⱼ = f′(zⱼ) Σₖ Wₖⱼ δₖ"
        " (Wₖⱼ는 유닛 j에서 유닛 k로 가는 가중치). 아래의 δ는 모두 이 합을 계산한 것으로, ∂𝓛/∂a를 먼저 구하고"
        " ∂a/∂z를 곱합니다."
    ),
    "why.sigmoid_bce": (
        "δ가 {result:이} 되는 이유: 시그모이드 함수의 기울기가 이진 교차 엔트로피 도함수의 분모와 약분되기"
        " 때문입니다. δ = ∂𝓛/∂ŷ · ∂ŷ/∂z = {derivative} · {slope} = {result}."
    ),
    "why.softmax_ce": (
        "δᵢ = ŷᵢ − yᵢ인 이유: ŷᵢ = exp(zᵢ)/Σⱼ exp(zⱼ)이므로 오차는 −Σₖ yₖ log ŷₖ = −Σₖ yₖzₖ + (Σₖ yₖ)"
        " log Σⱼ exp(zⱼ)이고, 이를 미분하면 ∂𝓛/∂zᵢ = −yᵢ + (Σₖ yₖ) exp(zᵢ)/Σⱼ exp(zⱼ) = ŷᵢ Σₖ yₖ − yᵢ입니다."
        " 실젯값의 합이 1이면 ŷᵢ − yᵢ가 됩니다."
    ),
    "why.dead_unit": (
        "{delta} = 0: {z} = {value}에서 활성화 함수가 평평하므로(기울기 0, 죽은 ReLU) 이 유닛으로는 오차가"
        " 전달되지 않습니다. {parameters}의 기울기는 0이고, 이번 단계에서 갱신되지 않습니다."
    ),
    "why.no_error": (
        "{delta} = 0: 이 유닛에 전달되는 오차가 없으므로 {parameters}의 기울기는 0이고, 이번 단계에서"
        " 갱신되지 않습니다."
    ),
    "why.dead_units_batch": (
        "{delta}의 {units}번째 열은 샘플 {samples}개 모두에서 0입니다. 이 유닛들로는 오차가 지나가지 않으므로"
        "(죽은 ReLU이거나 오차가 닿지 않음) {weight}의 해당 행과 편향의 기울기가 0이고 이번 단계에서 바뀌지 않습니다."
    ),
    "why.vanishing": (
        "역전파가 계층을 거슬러 올라갈수록 |δ|가 작아집니다. 출력층부터 각 계층의 |δ| 평균은 {sizes}입니다."
        " 한 계층을 거슬러 갈 때마다 오차에 가중치와 활성화 함수의 기울기(시그모이드 함수는 최대 0.25)가"
        " 곱해지므로, 입력에 가까운 계층일수록 적게 갱신됩니다. 이것이 기울기 소실입니다."
    ),
    "intro.forward.transposed": (
        "가중합 z는 입력값(x)과 가중치(W)의 곱을 모두 더한 값에 편향(b)을 더한 값이며, 각 유닛은 가중합에"
        " 활성화 함수를 적용합니다. 가중치 번호는 z = Wᵀx의 순서로, 입력값마다 매깁니다: W₁은 x₁에서 첫 번째"
        " 유닛으로, W₂는 x₁에서 두 번째 유닛으로 가는 가중치입니다 (torch의 가중치를 전치한 배치)."
    ),
    "intro.update.momentum.textbook": (
        "모멘텀 SGD, 모멘텀 μ = {momentum}: v(t+1) = μ v(t) − α ∂𝓛/∂θ, θ(t+1) = θ(t) + v(t+1)"
        " (많은 교재의 v = βv − αg), 학습률 α = {lr}{decay}, v의 초깃값은 0. 값은 torch.optim.SGD와 같습니다:"
        " torch의 v = μv + g는 이 v를 −α로 나눈 값이며, α가 바뀌지 않는 한 같은 방법입니다."
    ),
    "table.iteration": "반복 횟수",
    "train.loss.intro.after": "i번 갱신한 뒤 전체 데이터로 계산한 오차입니다 (0은 학습 전).",
    "figure.title": "신경망 구조",
    "figure.too_many": "그림 생략: 유닛이 {units}개보다 많은 계층이 있습니다 (--no-figure로 이 줄도 뺍니다).",
    "figure.too_wide": "그림 생략: 그림이 페이지보다 넓습니다.",
    "math.cases.separator": ", ",
    "math.case.text": "{condition}일 때 {value}",
    "math.otherwise.text": "그 외 {value}",
    "math.case.latex": r"{value} & {condition}\text{{일 때}}",
    "math.otherwise.latex": r"{value} & \text{{그 외}}",
    "math.case.mathml": "<mtd>{value}</mtd><mtd>{condition}<mtext>일 때</mtext></mtd>",
    "math.otherwise.mathml": "<mtd>{value}</mtd><mtd><mtext>그 외</mtext></mtd>",
})

FORMATTER = KoreanFormatter()

# 어텐션 (layers/attention.py): 쿼리, 키, 값, 점수, 행별 소프트맥스, 헤드.
MESSAGES.update({
    "kind.attention.title": (
        "{layer:번째} 계층 (셀프 어텐션: 토큰 {steps}개, d = {d}, 헤드 {heads}개, d_k = {dk})"
    ),
    "kind.attention.title_causal": (
        "{layer:번째} 계층 (인과 셀프 어텐션: 토큰 {steps}개, d = {d}, 헤드 {heads}개, d_k = {dk})"
    ),
    "kind.attention.tokens": (
        "입력을 토큰으로: 토큰마다 한 행 (샘플마다 {steps}개, 샘플 {samples}개), 특성은 d = {d}개"
    ),
    "kind.attention.query": (
        "쿼리: 각 토큰이 찾는 것. W_Q, W_K, W_V는 in_proj_weight의 행, b_Q, b_K, b_V는 in_proj_bias의 값으로,"
        " nn.MultiheadAttention이 쌓는 순서 그대로입니다"
    ),
    "kind.attention.key": "키: 각 토큰이 찾아지는 기준",
    "kind.attention.value": "값: 각 토큰이 전달하는 것",
    "kind.attention.scores": "점수: 모든 쿼리와 모든 키의 내적을 1/√d_k로 나눕니다 (d_k = {dk})",
    "kind.attention.scores_heads": (
        "한 샘플, 한 헤드의 점수: 토큰 {steps}개의 Q, K 행 중 그 헤드의 d_k = {dk}열"
        " (헤드 h는 (h − 1)·d_k + 1 … h·d_k열). 모든 쿼리와 모든 키의 내적을 1/√d_k로 나눕니다"
    ),
    "kind.attention.softmax": "어텐션 가중치: 행별 소프트맥스, 각 토큰의 가중치를 더하면 1입니다",
    "kind.attention.causal": (
        "인과 마스크 M: 대각선과 그 아래는 0, 위는 −∞이므로 토큰은 자신과 앞선 토큰만 봅니다."
        " 행별 소프트맥스 (가려진 가중치는 0)"
    ),
    "kind.attention.weighted": "각 토큰의 출력: 가중치로 값을 섞은 것",
    "kind.attention.output": "출력 투영 W_O (out_proj)",
    "kind.attention.output_heads": (
        "H: 헤드 {heads}개를 나란히, 샘플의 토큰을 위아래로 붙인 것. 그다음 출력 투영 W_O (out_proj)"
    ),
    "kind.attention.flat": "다음 층이 읽는 대로, 각 샘플의 토큰 {steps}개({d}개씩)를 한 행에 나란히",
    "kind.attention.back_rows": "∂𝓛/∂O, 토큰마다 한 행 (샘플마다 {steps}개, {d}개씩)",
    "kind.attention.back_output": "출력 투영의 기울기는 모든 샘플의 모든 토큰에 대해 더합니다",
    "kind.attention.back_weights": "H = AV이므로 ∂𝓛/∂A = ∂𝓛/∂H Vᵀ, ∂𝓛/∂V = Aᵀ ∂𝓛/∂H",
    "kind.attention.back_weights_heads": (
        "한 샘플, 한 헤드의 H = AV (∂𝓛/∂H 중 그 토큰의 행과 그 헤드의 열): ∂𝓛/∂A = ∂𝓛/∂H Vᵀ, ∂𝓛/∂V = Aᵀ ∂𝓛/∂H"
    ),
    "kind.attention.back_softmax": (
        "행별 소프트맥스의 야코비안: ∂𝓛/∂S = A ⊙ (∂𝓛/∂A − (∂𝓛/∂A ⊙ A의 행별 합)). 가려진 가중치는 0이고"
        " 그 기울기도 0입니다"
    ),
    "kind.attention.back_scores": "S = QKᵀ/√d_k이므로 ∂𝓛/∂Q = ∂𝓛/∂S K/√d_k, ∂𝓛/∂K = ∂𝓛/∂Sᵀ Q/√d_k",
    "kind.attention.back_projections": "각 투영의 기울기는 모든 샘플의 모든 토큰에 대해 더합니다",
    "kind.attention.back_projections_heads": (
        "∂𝓛/∂Q, ∂𝓛/∂K, ∂𝓛/∂V: 헤드 {heads}개를 다시 나란히, 샘플을 위아래로 붙인 것."
        " 각 투영의 기울기는 모든 샘플의 모든 토큰에 대해 더합니다"
    ),
    "kind.attention.back_stacked": "in_proj_weight처럼 ∂𝓛/∂W_Q, ∂𝓛/∂W_K, ∂𝓛/∂W_V를 쌓습니다",
    "kind.attention.back_input": "X는 Q, K, V에 모두 쓰이므로 세 경로를 더합니다",
    "kind.attention.flat_back": "각 샘플의 토큰 {steps}개({d}개씩)를 다시 한 행에 나란히",
    "kind.attention.scalar_scores": (
        "점수를 하나씩: s_t,u = Σ_j q_t,j k_u,j / √d_k, 토큰 t의 쿼리와 토큰 u의 키의 내적 (d_k = {dk})"
    ),
    "kind.attention.scalar_scores_heads": (
        "헤드 {heads}개 각각의 점수 (첫 첨자가 헤드): 헤드의 d_k = {dk}열 j에 걸친 s_h,t,u = Σ_j q_t,j k_u,j / √d_k"
        " (헤드 h는 (h − 1)·d_k + 1 … h·d_k열)"
    ),
    "kind.attention.scalar_causal": (
        "인과 마스크: u > t이면 s_t,u = −∞이므로 토큰 t는 자신과 앞선 토큰만 봅니다. 행 t의 소프트맥스는"
        " u ≤ t에 걸치고, 가려진 가중치 a_t,u는 0입니다"
    ),
    "kind.layer_norm.title_tokens": "{layer:번째} 계층 (토큰 {steps}개마다 층 정규화, 특성 {units}개, ε = {eps})",
    "kind.layer_norm.tokens": (
        "토큰마다 한 행 (샘플마다 {steps}개): (N, T, d)에 적용한 nn.LayerNorm은 토큰을 하나씩 정규화합니다"
    ),
    "kind.layer_norm.mean_tokens": "토큰마다 특성 {features}개에 대한 평균",
    "kind.layer_norm.backward_tokens": (
        "각 토큰(행)의 X̂, σ², μ를 한꺼번에 거치는, 배치 정규화의 세 경로를 간결하게 쓴 형태"
        " (한 토큰의 특성 {features}개에 대해)"
    ),
    "kind.layer_norm.flat": "각 샘플의 토큰 {steps}개를 다시 한 행에 나란히",
    "name.attention": "어텐션",
    "name.causal": "인과",
})
