"""Formula activations: the whitelist parser, its refusals, fuzzing, and gradients against PyTorch."""

from __future__ import annotations

import ast
import builtins
import contextlib
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from backprop_cli.build import build_derivation
from backprop_cli.cli import main
from backprop_cli.derivation import Options
from backprop_cli.errors import BackpropError, FormulaError
from backprop_cli.evaluate import evaluate
from backprop_cli.formula import FUNCTIONS, MAX_LENGTH, check_formula, parse_formula
from backprop_cli.functions import Activation, X
from backprop_cli.model import Layer, Network
from backprop_cli.render import render
from tests.reference import assert_close, torch_activation, torch_step


def test_accepted_formulas_build_the_expression_they_say():
    assert parse_formula("x/(1+abs(x))")(X) == X / (1 + sp.Abs(X))
    assert parse_formula("x*sigmoid(x)")(X) == X / (1 + sp.exp(-X))
    assert parse_formula(" max(x, 0) - 0.5*min(x, 1) ")(X) == sp.Max(X, 0) - sp.Float(0.5) * sp.Min(X, 1)
    assert parse_formula("x**2 + 2**-3*e**x - pi")(X) == X**2 + sp.exp(X) / 8 - sp.pi
    assert parse_formula("-+x")(X) == -X
    with sp.evaluate(False):
        written = parse_formula("x*1")(X)
    assert written != X  # as written, for printing


REFUSED = [
    # attributes and dunder tricks
    ("x.real", "attributes (a.b) are not accepted"),
    ("x.__class__", "attributes (a.b) are not accepted"),
    ("().__class__.__bases__[0].__subclasses__()", "is not an accepted function"),
    ("x.__class__.__mro__[1]", "subscripts (a[i]) are not accepted"),
    ("__builtins__", "unknown activation '__builtins__'"),
    ("x + __debug__", "unknown name '__debug__'"),
    # calls to other names
    ("__import__('os').system('true')", "is not an accepted function"),
    ("eval('x')", "'eval' is not an accepted function"),
    ("exec('x')", "'exec' is not an accepted function"),
    ("open('f', 'w')", "'open' is not an accepted function"),
    ("getattr(x, 'real')", "'getattr' is not an accepted function"),
    ("math.exp(x)", "'math.exp' is not an accepted function"),
    ("exp(x)(x)", "is not an accepted function"),
    ("foo(x)", "'foo' is not an accepted function"),
    ("y + 1", "unknown name 'y'"),
    ("exp + x", "unknown name 'exp': only x, pi and e (did you mean exp(x)?)"),
    # lambdas, strings, subscripts, comprehensions
    ("lambda x: x", "lambdas are not accepted"),
    ("(lambda: x)()", "is not an accepted function"),
    ("'x'", "'x' is not a number"),
    ("x + 'a'", "'a' is not a number"),
    ("b'x' * x", "b'x' is not a number"),
    ("x[0]", "subscripts (a[i]) are not accepted"),
    ("[x for x in (1, 2)]", "comprehensions are not accepted"),
    ("max(y for y in (x, 1))", "max() takes 2 plain arguments"),
    ("{x for x in (1,)}", "comprehensions are not accepted"),
    ("{x: 1 for x in (1,)}", "comprehensions are not accepted"),
    # huge exponents and constants
    ("x**1000", "a constant exponent must be a plain number of at most 64"),
    ("x**-65", "a constant exponent must be a plain number of at most 64"),
    ("9**9**9*x", "a constant exponent must be a plain number"),
    ("2**2**2**2**2*x", "a constant exponent must be a plain number"),
    ("(9**64)**64*x", "is too large to work with"),
    ("x**(10**100)", "a constant exponent must be a plain number"),
    ("x**0.5**0.5", "a constant exponent must be a plain number"),
    ("1e13*x", "is too large"),
    ("1e400*x", "is too large"),
    ("99999999999999999999*x", "is too large"),
    # constants that are not finite real numbers
    ("1/0 + x", "not a finite real number"),
    ("log(0)*x", "not a finite real number"),
    ("sqrt(-1)*x", "not a finite real number"),
    ("x + 0**-1", "not a finite real number"),
    # other syntax: walrus, f-strings, conditionals, comparisons, booleans, containers, operators
    ("(y := x)", "assignments (:=) are not accepted"),
    ("f'{x}'", "f-strings are not accepted"),
    ("x if x > 0 else 0", "conditional expressions are not accepted"),
    ("x > 0", "comparisons are not accepted"),
    ("x and 1", "and/or are not accepted"),
    ("not x", "only the signs + and - may stand before a term"),
    ("~x", "only the signs + and - may stand before a term"),
    ("x ^ 2", "the operator ^ is not accepted; use + - * / ** (for a power write **"),
    ("x % 2", "the operator % is not accepted"),
    ("x // 2", "the operator // is not accepted"),
    ("x @ x", "the operator @ is not accepted"),
    ("x << 1", "the operator << is not accepted"),
    ("(x, 1)", "tuples are not accepted"),
    ("[x]", "lists are not accepted"),
    ("{x}", "sets are not accepted"),
    ("{'a': x}", "dicts are not accepted"),
    ("True * x", "True is not a number"),
    ("None", "None is not a number"),
    ("... * x", "Ellipsis is not a number"),
    ("1j * x", "1j is not a number"),
    ("await x", "await are not accepted"),
    # calls with the wrong shape
    ("exp(x, 2)", "exp() takes 1 plain argument"),
    ("exp(x=1)", "exp() takes 1 plain argument"),
    ("max(*[x, 1])", "max() takes 2 plain arguments"),
    ("max(x)", "max() takes 2 plain arguments"),
    # not a formula at all
    ("", "the formula is empty"),
    ("   ", "the formula is empty"),
    ("x +", "neither a known activation nor a valid formula"),
    ("x; import os", "neither a known activation nor a valid formula"),
    ("import os", "neither a known activation nor a valid formula"),
    ("x\0", "neither a known activation nor a valid formula"),
    ("yield x", "neither a known activation nor a valid formula"),
    ("sigmoidd", "unknown activation 'sigmoidd' (did you mean 'sigmoid'?)"),
    ("pi", "does not use x"),
    ("2*3", "does not use x"),
    ("x" * (MAX_LENGTH + 1), f"longer than {MAX_LENGTH} characters"),
    ("+".join(["x"] * 99), "more than 200 parts"),
]


@pytest.mark.parametrize(("text", "expected"), REFUSED, ids=[t[:30] for t, _ in REFUSED])
def test_refused_with_one_line_naming_the_problem(text, expected):
    with pytest.raises(FormulaError) as caught:
        parse_formula(text)
    message = str(caught.value)
    assert message.startswith("activation:")
    assert "\n" not in message
    assert expected in message


def test_refusal_on_the_command_line_names_the_layer(capsys):
    code = main(["step", "--activation", "tanh", "--activation", "x.real"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err == ("error: layers[1].activation: in 'x.real', attributes (a.b) are not accepted;"
                   " use numbers, x, + - * / ** and functions\n")


# --- nothing in a formula runs ----------------------------------------------------------------

def payloads(marker: Path) -> list[str]:
    """Formulas that create ``marker`` when Python evaluates them."""
    return [
        f"__import__('os').system('touch {marker}')",
        f"open('{marker}', 'w')",
        f"x + len(open('{marker}', 'w').name)",
        f"[open('{marker}', 'w') for x in (1,)]",
        f"(lambda: open('{marker}', 'w'))()",
        f"x if open('{marker}', 'w') else x",
        f"f'{{open(\"{marker}\", \"w\")}}'",
        f"(y := open('{marker}', 'w'))",
        f"().__class__.__base__.__subclasses__() and open('{marker}', 'w')",
    ]


def test_the_payloads_are_live_when_evaluated(tmp_path):
    """The control: Python's eval of each payload does create the marker (so the next test can fail)."""
    for index, text in enumerate(payloads(tmp_path / "marker")):
        marker = tmp_path / f"control{index}"
        with contextlib.suppress(Exception):
            eval(text.replace(str(tmp_path / "marker"), str(marker)), {"x": 1})  # noqa: S307
        assert marker.exists(), text


def test_a_malicious_formula_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "marker"
    spec = tmp_path / "net.toml"
    for text in payloads(marker):
        with pytest.raises(FormulaError):
            parse_formula(text)
        code = main(["step", "--activation", text])
        assert code == 2
        spec.write_text(f"[[layers]]\nweight = [[1.0]]\nactivation = {json.dumps(text)}\n")
        code = main(["step", "--network", str(spec), "--x", "1", "--y", "0"])
        assert code == 2
    _, err = capsys.readouterr()
    assert err.count("error: ") == 2 * len(payloads(marker))
    assert not marker.exists()


# --- fuzzing: only FormulaError or success, and never a side effect ---------------------------

@contextlib.contextmanager
def no_side_effects(folder: Path, text: str):
    """Fails the test if ``text`` (the user's formula) reaches eval, exec, compile (other than
    ``ast.parse``'s tree-only compile) or sympy's string parser, if backprop_cli itself calls eval,
    exec or compile to make code, or if anything unpickles, runs a shell or writes a file.

    Imports, which compile and exec module files (and dataclass code), stay allowed.
    """

    def refuse(name):
        def refused(*args, **kwargs):
            raise AssertionError(f"{name} was called")
        return refused

    def suspicious(source) -> bool:
        caller = sys._getframe(2).f_code.co_filename
        from_user = isinstance(source, (str, bytes)) and len(text) >= 3 and text in (
            source if isinstance(source, str) else source.decode("utf-8", "replace"))
        return from_user or f"{os.sep}backprop_cli{os.sep}" in caller

    def refuse_text(name, real):
        def refused(source, *args, **kwargs):
            if suspicious(source):
                raise AssertionError(f"{name} was called on {source!r}")
            return real(source, *args, **kwargs)
        return refused

    real_compile = builtins.compile
    real_open = builtins.open

    def compile_tree_only(source, filename, mode, flags=0, *args, **kwargs):
        if not flags & ast.PyCF_ONLY_AST and suspicious(source):
            raise AssertionError(f"compile was called to make code of {source!r}")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    def open_read_only(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            raise AssertionError(f"open({file!r}, {mode!r}) was called")
        return real_open(file, mode, *args, **kwargs)

    import sympy.parsing.sympy_parser as sympy_parser

    patches = [(builtins, "eval", refuse_text("eval", builtins.eval)),
               (builtins, "exec", refuse_text("exec", builtins.exec)),
               (builtins, "compile", compile_tree_only), (builtins, "open", open_read_only),
               (os, "system", refuse("os.system")), (subprocess, "Popen", refuse("subprocess.Popen")),
               (pickle, "loads", refuse("pickle.loads")),
               (sympy_parser, "parse_expr", refuse("sympy parse_expr"))]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    before = set(folder.iterdir())
    try:
        for owner, name, value in patches:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
    assert set(folder.iterdir()) == before


def _exercise(text: str, folder: Path) -> None:
    """Parse ``text``; if accepted, build it every way the program does and evaluate it."""
    with no_side_effects(folder, text):
        try:
            builder = parse_formula(text)
        except FormulaError as error:
            assert "\n" not in str(error)
            event("refused")
            return
        event("accepted")
        with sp.evaluate(False):
            builder(X)
        activation = Activation(text, builder)
        for point in (-1.5, 0.0, 0.7):
            for expr in (activation.expr, activation.derivative):
                value = evaluate(expr, {X: point})
                assert isinstance(value, float)
        # The whole page: forward, σ' in terms of the output where sympy finds it, printing.
        network = Network((Layer(((0.5,),), (0.1,), text),), loss="mse")
        try:
            derivation = build_derivation(network, ((0.3,),), ((0.2,),))
        except BackpropError as error:  # e.g. the activation is not defined at z = 0.25
            assert "\n" not in str(error)
        else:
            assert render(derivation, "markdown")


FORMULA_CHARACTERS = "x()+-*/.0123456789 e,pi" + "".join(sorted(set("".join(FUNCTIONS))))


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
          deadline=None, max_examples=300)
@given(st.one_of(st.text(max_size=60), st.text(FORMULA_CHARACTERS, max_size=40)))
def test_fuzz_random_text(tmp_path, text):
    _exercise(text, tmp_path)


NAMES = ["x", "x", "x", "pi", "e", "y", "os", "__import__", "eval", "open", "__builtins__", "exp"]
OPERATORS = [ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.FloorDiv, ast.MatMult,
             ast.BitXor, ast.BitAnd, ast.LShift]
CALLABLE = [*FUNCTIONS, "eval", "exec", "open", "getattr", "__import__", "print", "x"]


def _load(name: str) -> ast.Name:
    return ast.Name(name, ast.Load())


def _extend(children: st.SearchStrategy[ast.expr]) -> st.SearchStrategy[ast.expr]:
    two = st.tuples(children, children)
    no_args = ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                            kwarg=None, defaults=[])
    return st.one_of(
        st.builds(ast.BinOp, children, st.sampled_from(OPERATORS).map(lambda op: op()), children),
        st.builds(ast.UnaryOp, st.sampled_from([ast.USub, ast.UAdd, ast.Not, ast.Invert]).map(lambda op: op()),
                  children),
        st.builds(lambda f, args: ast.Call(_load(f), args, []), st.sampled_from(CALLABLE),
                  st.lists(children, max_size=3)),
        st.builds(lambda f, a: ast.Call(_load(f), [], [ast.keyword("x", a)]), st.sampled_from(CALLABLE), children),
        st.builds(lambda a: ast.Call(_load("max"), [ast.Starred(a, ast.Load())], []), children),
        st.builds(lambda a, attr: ast.Attribute(a, attr, ast.Load()), children,
                  st.sampled_from(["real", "__class__", "__globals__", "system"])),
        st.builds(lambda ab: ast.Subscript(ab[0], ab[1], ast.Load()), two),
        st.builds(lambda a: ast.Lambda(no_args, a), children),
        st.builds(lambda ab: ast.IfExp(ab[0], ab[1], ab[0]), two),
        st.builds(lambda ab: ast.Compare(ab[0], [ast.Lt()], [ab[1]]), two),
        st.builds(lambda ab: ast.BoolOp(ast.And(), [ab[0], ab[1]]), two),
        st.builds(lambda ab: ast.ListComp(ab[0], [ast.comprehension(ast.Name("x", ast.Store()), ab[1], [], 0)]),
                  two),
        st.builds(lambda a: ast.NamedExpr(ast.Name("y", ast.Store()), a), children),
        st.builds(lambda a: ast.JoinedStr([ast.FormattedValue(a, -1, None)]), children),
        st.builds(lambda ab: ast.Tuple([ab[0], ab[1]], ast.Load()), two),
        st.builds(lambda ab: ast.Dict([ab[0]], [ab[1]]), two),
    )


LEAVES = st.one_of(
    st.sampled_from(NAMES).map(_load),
    st.one_of(st.integers(-10**14, 10**14), st.floats(allow_nan=True, allow_infinity=True),
              st.text(max_size=3), st.booleans(), st.none(), st.binary(max_size=2),
              st.complex_numbers(max_magnitude=10), st.just(...)).map(ast.Constant),
)
EXPRESSIONS = st.recursive(LEAVES, _extend, max_leaves=12)


def _extend_accepted(children: st.SearchStrategy[ast.expr]) -> st.SearchStrategy[ast.expr]:
    """Only what the whitelist accepts (most such trees parse; exponents and constants may not)."""
    return st.one_of(
        st.builds(ast.BinOp, children, st.sampled_from([ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow]).map(
            lambda op: op()), children),
        st.builds(lambda a: ast.UnaryOp(ast.USub(), a), children),
        st.builds(lambda f, a: ast.Call(_load(f), [a], []),
                  st.sampled_from([f for f, (_, arity) in FUNCTIONS.items() if arity == 1]), children),
        st.builds(lambda f, a, b: ast.Call(_load(f), [a, b], []), st.sampled_from(["max", "min"]), children,
                  children),
    )


ACCEPTED_LEAVES = st.one_of(
    st.just(_load("x")), st.sampled_from(["pi", "e"]).map(_load),
    st.one_of(st.integers(0, 70), st.integers(0, 10**12), st.floats(0, 1e12)).map(ast.Constant),
)
ACCEPTED_EXPRESSIONS = st.recursive(ACCEPTED_LEAVES, _extend_accepted, max_leaves=8)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
          deadline=None, max_examples=300)
@given(st.one_of(EXPRESSIONS, ACCEPTED_EXPRESSIONS))
def test_fuzz_random_syntax_trees(tmp_path, tree):
    try:
        text = ast.unparse(ast.fix_missing_locations(ast.Expression(tree)))
    except Exception:  # a tree Python itself cannot print (not a parser input)
        assume(False)
    _exercise(text, tmp_path)


def test_check_formula_returns_the_tree_it_checked():
    source, body = check_formula("  x*sigmoid(x) ")
    assert source == "x*sigmoid(x)" and isinstance(body, ast.BinOp)


# --- the same function in PyTorch gives the same gradients ------------------------------------

def _torch_reference_activations():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Softsign(nn.Module):
        def forward(self, z):
            return z / (1 + torch.abs(z))

    class Swish(nn.Module):
        def forward(self, z):
            return z * torch.sigmoid(z)

    modules = {"x/(1+abs(x))": Softsign, "x*sigmoid(x)": Swish}

    def factory(name):
        return modules[name]() if name in modules else torch_activation(name)

    return torch, factory


@pytest.mark.parametrize(("hidden", "output", "loss"), [
    ("x/(1+abs(x))", "x/(1+abs(x))", "mse"),
    ("x*sigmoid(x)", "x*sigmoid(x)", "half_sse"),
    ("x/(1+abs(x))", "sigmoid", "bce"),
    ("x*sigmoid(x)", "sigmoid", "bce"),
    ("x*sigmoid(x)", "softmax", "cross_entropy"),
])
def test_softsign_and_swish_gradients_equal_pytorch(hidden, output, loss):
    _, factory = _torch_reference_activations()
    units = 2 if output == "softmax" else 1
    network = Network((
        Layer(((0.3, -0.7), (0.5, 0.2), (-0.4, 0.9)), (0.1, -0.2, 0.05), hidden),
        Layer(((0.6, -0.3, 0.8), (0.2, 0.1, -0.5))[:units], (0.2, -0.1)[:units], output),
    ), loss=loss, lr=0.5)
    xs = ((0.7, -1.2), (-0.3, 0.4))
    ys = ((0.4, 0.6)[:units], (1.0, 0.0)[:units]) if loss != "cross_entropy" else ((0.0, 1.0), (1.0, 0.0))
    if loss == "bce":
        ys = ((0.4,), (1.0,))
    for n in (1, 2):
        ours = build_derivation(network, xs[:n], ys[:n], Options(form="scalar")).to_dict()
        assert_close(ours, torch_step(network, xs[:n], ys[:n], activation=factory))


def test_custom_modules_are_torch_softsign_and_silu():
    """The hand-written reference modules are PyTorch's own Softsign and SiLU (nn.SiLU is swish)."""
    torch, factory = _torch_reference_activations()
    z = torch.linspace(-30, 30, 601, dtype=torch.float64)
    assert torch.equal(factory("x/(1+abs(x))")(z), torch.nn.Softsign()(z))
    assert torch.allclose(factory("x*sigmoid(x)")(z), torch.nn.SiLU()(z), rtol=1e-15, atol=0)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=30)
@given(st.lists(st.floats(-2, 2, allow_nan=False, allow_subnormal=False), min_size=9, max_size=9),
       st.sampled_from(["x/(1+abs(x))", "x*sigmoid(x)"]), st.sampled_from(["x/(1+abs(x))", "x*sigmoid(x)"]))
def test_random_formula_networks_equal_pytorch(values, hidden, output):
    _, factory = _torch_reference_activations()
    w = values
    network = Network((Layer(((w[0], w[1]), (w[2], w[3])), (w[4], w[5]), hidden),
                       Layer(((w[6], w[7]),), (w[8],), output)), loss="mse")
    xs, ys = ((1.0, -0.5),), ((0.3,),)
    ours = build_derivation(network, xs, ys).to_dict()
    assert_close(ours, torch_step(network, xs, ys, activation=factory))


def test_formula_in_torch_operations_is_the_same_function():
    torch, factory = _torch_reference_activations()
    from backprop_cli.formula import formula_function
    from backprop_cli.layers.torch_modules import torch_operations

    z = torch.linspace(-5, 5, 101, dtype=torch.float64)
    for text in ("x/(1+abs(x))", "x*sigmoid(x)"):
        ours = formula_function(text, torch_operations(torch))(z)
        assert torch.allclose(ours, factory(text)(z), rtol=1e-15, atol=1e-300)
    assert math.isclose(float(formula_function("max(x, 0) + pi", torch_operations(torch))(torch.tensor(-1.0))),
                        math.pi)


@pytest.mark.parametrize("form", ["scalar", "matrix"])
@pytest.mark.parametrize("text", ["2**x", "x**x"])
def test_a_variable_exponent_equals_pytorch_in_both_forms(text, form):
    """An exponent that holds x is an array in the matrix form: evaluated as a power, not compared with -1."""
    torch = pytest.importorskip("torch")

    class Power(torch.nn.Module):
        def forward(self, z):
            return 2 ** z if text == "2**x" else z ** z

    def factory(name):
        return Power() if name == text else torch_activation(name)

    network = Network((Layer(((0.3, 0.7), (0.5, 0.2)), (0.1, 0.2), text),
                       Layer(((0.6, -0.3),), (0.2,), "sigmoid")), loss="mse", lr=0.1)
    xs, ys = ((0.7, 1.2), (0.3, 0.4)), ((0.4,), (1.0,))
    ours = build_derivation(network, xs, ys, Options(form=form)).to_dict()
    assert_close(ours, torch_step(network, xs, ys, activation=factory))
