// Package distill trains a small student network to imitate a larger teacher
// (knowledge distillation, Hinton, Vinyals & Dean 2015), optionally after a
// hint stage that regresses a student layer's output onto a teacher layer's
// (FitNets, Romero et al. 2015).
//
// The loss on a batch of student logits z, teacher logits v and labels y is
//
//	L = α · T² · KL(softmax(v/T) ‖ softmax(z/T)) + (1−α) · CE(softmax(z), y)
//
// The T² factor keeps the soft term's gradient, α·T·(softmax(z/T) −
// softmax(v/T))/N, on the same scale as the hard term's when T changes.
//
// The package is pure computation on compress/nn networks: it prints nothing,
// keeps no global state and honours context cancellation between batches.
package distill
