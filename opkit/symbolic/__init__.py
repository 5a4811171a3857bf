"""Symbols for PROSE: expression trees, prefix tokens, float tokens, the sympy bridge.

Vector fields over ``u_0 ... u_9`` are written in PROSE's vocabulary (operators ``add sub
mul div neg inv sin cos pow2``, variables, integers -10..10, floats as sign/mantissa/
exponent, ``|`` between components, ``<BOS> <EOS> <PAD> <PLACEHOLDER>``), converted to and
from sympy, and evaluated as batched torch functions -- always by walking an expression
tree with an arity table, never by executing text (no ``eval``, ``exec``, ``sympify`` of
strings, ``lambdify``).

This subpackage imports neither :mod:`opkit.models` nor :mod:`opkit.trainers` nor
:mod:`opkit.pde_data`; all of them may import it.

Examples:
    >>> from sympy import Symbol
    >>> from opkit import symbolic
    >>> x, y = Symbol("u_0"), Symbol("u_1")
    >>> tokens = symbolic.encode([0.17 * y - x, x * y])
    >>> tokens
    ['add', 'neg', 'u_0', 'mul', '+', 'N170', 'E-3', 'u_1', '|', 'mul', 'u_0', 'u_1']
    >>> symbolic.decode(tokens)
    [-u_0 + 0.17*u_1, u_0*u_1]
    >>> symbolic.encode([0.17 * y - x], placeholders=True)
    ['add', 'neg', 'u_0', 'mul', '<PLACEHOLDER>', 'u_1']

References:
    Y. Liu, Z. Zhang, H. Schaeffer, "PROSE: Predicting Operators and Symbolic Expressions
    using Multimodal Transformers", Neural Networks 180 (2024), arXiv:2309.16816.
"""

from ._codec import MAX_DECODE_DEPTH as MAX_DECODE_DEPTH
from ._codec import decode as decode
from ._codec import encode as encode
from ._codec import system_from_sympy as system_from_sympy
from ._corrupt import CORRUPTION_MODES as CORRUPTION_MODES
from ._corrupt import corrupt as corrupt
from ._corrupt import draw_corruption_mode as draw_corruption_mode
from ._corrupt import encode_guess as encode_guess
from ._corrupt import hide_integers as hide_integers
from ._errors import TokenError as TokenError
from ._floats import EXPONENT_MAX as EXPONENT_MAX
from ._floats import EXPONENT_MIN as EXPONENT_MIN
from ._floats import decode_float as decode_float
from ._floats import encode_float as encode_float
from ._grammar import PrefixGrammar as PrefixGrammar
from ._sympy import placeholder_symbol as placeholder_symbol
from ._sympy import round_sig as round_sig
from ._sympy import tree_from_sympy as tree_from_sympy
from ._sympy import tree_to_sympy as tree_to_sympy
from ._tokens import BOS as BOS
from ._tokens import BOS_ID as BOS_ID
from ._tokens import EOS as EOS
from ._tokens import EOS_ID as EOS_ID
from ._tokens import PAD as PAD
from ._tokens import PAD_ID as PAD_ID
from ._tokens import PLACEHOLDER as PLACEHOLDER
from ._tokens import PLACEHOLDER_ID as PLACEHOLDER_ID
from ._tokens import SEPARATOR as SEPARATOR
from ._tokens import SEPARATOR_ID as SEPARATOR_ID
from ._tokens import TOKEN_ID as TOKEN_ID
from ._tokens import VOCAB as VOCAB
from ._tokens import from_ids as from_ids
from ._tokens import system_to_tokens as system_to_tokens
from ._tokens import to_ids as to_ids
from ._tokens import tree_from_tokens as tree_from_tokens
from ._tokens import tree_to_tokens as tree_to_tokens
from ._torch import VectorField as VectorField
from ._torch import evaluate as evaluate
from ._torch import evaluate_systems as evaluate_systems
from ._torch import vector_field as vector_field
from ._tree import MAX_DIM as MAX_DIM
from ._tree import OPERATOR_ARITY as OPERATOR_ARITY
from ._tree import Const as Const
from ._tree import Int as Int
from ._tree import Op as Op
from ._tree import Placeholder as Placeholder
from ._tree import Tree as Tree
from ._tree import Var as Var
