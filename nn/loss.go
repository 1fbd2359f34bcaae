package nn

import "github.com/gotrain/gotrain/graph"

// SoftmaxCrossEntropy is the mean cross-entropy of logits [B, C] against
// int32 labels [B], fused with the softmax (PyTorch's CrossEntropyLoss).
func SoftmaxCrossEntropy(g *graph.Graph, logits, labels *graph.Node) *graph.Node {
	return g.CrossEntropy(logits, labels)
}

// MSE is the mean squared error (PyTorch's MSELoss, reduction "mean").
func MSE(g *graph.Graph, pred, target *graph.Node) *graph.Node { return g.MSE(pred, target) }

// L1Penalty is lambda·Σ|w| over the given parameters, to add to a loss.
func L1Penalty(g *graph.Graph, params []*graph.Node, lambda float32) *graph.Node {
	return sumOf(g, params, func(w *graph.Node) *graph.Node { return g.L1(w, lambda) })
}

// L2Penalty is lambda/2·Σw² over the given parameters, to add to a loss
// (its gradient is lambda·w, the "weight decay" of SGD).
func L2Penalty(g *graph.Graph, params []*graph.Node, lambda float32) *graph.Node {
	return sumOf(g, params, func(w *graph.Node) *graph.Node { return g.L2(w, lambda) })
}

func sumOf(g *graph.Graph, params []*graph.Node, f func(*graph.Node) *graph.Node) *graph.Node {
	if len(params) == 0 {
		g.Errorf("penalty: no parameters given")
		return nil
	}
	total := f(params[0])
	for _, w := range params[1:] {
		total = g.Add(total, f(w))
	}
	return total
}
