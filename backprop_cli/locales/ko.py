"""한국어 (Korean), in the terms of the seed page: 순전파, 가중합, 활성화 함수, 오차 계산, 역전파,
연쇄법칙, 학습률, 갱신."""

# pdflatex sets Hangul with ko.TeX (Debian: texlive-lang-korean).
LATEX_PACKAGES = ("kotex",)

MESSAGES = {
    "title.step": "역전파 풀이: 한 번의 학습 단계",
    "title.train": "학습 보고서",
    "network": "신경망",
    "network.summary": "{widths}, {activations}; 손실 함수 {loss}; 학습률 α = {lr}",
    "network.summary.layers": "{widths}; 손실 함수 {loss}; 학습률 α = {lr}",
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
        "가중합 z는 입력값과 가중치의 곱을 모두 더한 값에 편향을 더한 값이고, 각 유닛은 가중합에"
        " 활성화 함수를 적용합니다."
    ),
    "intro.loss": "손실 함수로 예측값 ŷ와 실젯값 y의 오차를 계산합니다.",
    "intro.backward": (
        "출력층부터 거꾸로 연쇄법칙을 적용합니다. 모든 유닛의 δ = ∂𝓛/∂z를 구하고,"
        " ∂𝓛/∂W = δ × (그 가중치가 곱해지는 입력값), ∂𝓛/∂b = δ입니다. 은닉 유닛의 ∂𝓛/∂a는"
        " 다음 계층을 지나는 모든 경로의 합이며, 이미 구한 δ를 다시 사용합니다."
    ),
    "intro.batch": "샘플마다 기울기를 구한 뒤, 갱신에 쓰는 배치 기울기를 계산합니다.",
    "intro.update": "경사 하강법으로 갱신합니다: θ(t+1) = θ(t) − α ∂𝓛/∂θ(t), 학습률 α = {lr}.",
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
    "group.layer": "계층 {layer} ({inputs} → {units}, {activation})",
    "group.output_layer": "출력층: 계층 {layer} ({inputs} → {units}, {activation})",
    "group.sample": "샘플 {sample}: x = {x}, y = {y}",
    "group.loss": "오차",
    "group.output_delta": "출력층: 계층 {layer}",
    "group.hidden_delta": "계층 {layer}",
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
    "group.output_delta.sample": "샘플 {sample}: 출력층 (계층 {layer})",
    "group.hidden_delta.sample": "샘플 {sample}: 계층 {layer}",
    "group.update_layer": "계층 {layer}",
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
        "배치 전체를 한 번에 계산합니다. 모든 행렬의 n번째 행이 n번째 샘플입니다 (샘플 {samples}개)."
        " 각 계층은 입력에 전치한 가중치를 곱하고 편향 행을 더한 뒤, 활성화 함수를 원소별로 적용합니다."
    ),
    "intro.backward.matrix": (
        "출력층부터 거꾸로 행렬로 연쇄법칙을 적용합니다: δ⁽ˡ⁾ = ∂𝓛/∂Z⁽ˡ⁾,"
        " ∂𝓛/∂W⁽ˡ⁾ = δ⁽ˡ⁾ᵀA⁽ˡ⁻¹⁾ (행렬곱이 샘플들에 대해 더합니다), ∂𝓛/∂b⁽ˡ⁾ = 1ᵀδ⁽ˡ⁾"
        " (열의 합), δ⁽ˡ⁻¹⁾ = (δ⁽ˡ⁾W⁽ˡ⁾) ⊙ f′(Z⁽ˡ⁻¹⁾)."
    ),
    "matrix.broadcast": "{bias}는 한 행이며, {samples}개의 행 각각에 더해집니다 (브로드캐스트)",
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
        " Y를 뺀 뒤 {n}으로 나눕니다"
    ),
    "matrix.delta_softmax": "소프트맥스의 야코비 행렬 diag(ŷ) − ŷŷᵀ을 행마다 적용합니다",
    "matrix.delta_sigmoid_bce": "출력이 시그모이드이고 손실이 bce이면 Ŷ(1 − Ŷ)가 약분됩니다: δ = {simplified}",
    "train.title": "학습",
    "train.optimizer.sgd": "SGD, 학습률 α = {lr}{decay}",
    "train.optimizer.momentum": "모멘텀 SGD, 모멘텀 μ = {momentum}, 학습률 α = {lr}{decay}",
    "train.optimizer.adam": "Adam, β₁ = {beta1}, β₂ = {beta2}, ε = {eps}, 학습률 α = {lr}{decay}",
    "train.optimizer.adamw": "AdamW, β₁ = {beta1}, β₂ = {beta2}, ε = {eps}, 학습률 α = {lr}{decay}",
    "train.optimizer.rmsprop": "RMSprop, ρ = {alpha}, ε = {eps}, μ = {momentum}, {decay}학습률 α = {lr}",
    "train.network": "{widths}, {activations}; 손실 함수 {loss}",
    "train.optimizer": "최적화 함수",
    "train.data": "데이터",
    "train.data.summary": "{data}, {samples}; {batches}",
    "samples.one": "샘플 1개",
    "train.batches.full": "전체 배치, 에폭마다 한 번 갱신",
    "train.batches.size": "배치 크기 {size}, 에폭마다 {updates}번 갱신",
    "train.batches.shuffled": "배치 크기 {size}, 시드 {seed}로 섞음, 에폭마다 {updates}번 갱신",
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
    "train.stopped": "{patience}에폭 동안 {loss}가 {delta}보다 크게 줄지 않아 {epoch}번째 에폭 전에 조기 종료했습니다.",
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
    "engine.reason.compiled": "매개변수 {parameters}개 × {samples}: 컴파일하기에 충분히 작음",
    "engine.reason.numpy": "매개변수 {parameters}개 × {samples}: 행렬 연산이 유리함",
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
    "kind.activation.title": "{layer}층 (활성화 함수 {activation}, 유닛 {units}개)",
    "kind.dropout.title": "{layer}층 (드롭아웃, p = {p}, 유닛 {units}개)",
    "kind.dropout.mask": "M은 샘플마다 남기는 유닛(1)의 마스크이고, 학습 때처럼 남은 유닛에 1/(1 − p)를 곱합니다",
    "kind.dropout.mask_drawn": (
        "M은 샘플마다 남기는 유닛(1)의 마스크로, 시드 {seed}에서 확률 1 − p로 뽑았고,"
        " 학습 때처럼 남은 유닛에 1/(1 − p)를 곱합니다"
    ),
    "kind.batch_norm.title": "{layer}층 (배치 정규화, 특성 {units}개, ε = {eps})",
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
    "kind.layer_norm.title": "{layer}층 (층 정규화, 특성 {units}개, ε = {eps})",
    "kind.layer_norm.mean": "샘플마다 특성 {features}개에 대한 평균",
    "kind.layer_norm.backward": (
        "각 샘플(행)의 X̂, σ², μ를 한꺼번에 거치는, 배치 정규화의 세 경로를 간결하게 쓴 형태"
        " (한 행의 특성 {features}개에 대해)"
    ),
    "kind.residual.title": "{layer}층 (잔차 연결, 유닛 {units}개)",
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
