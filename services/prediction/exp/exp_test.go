package exp
import ("context";"testing";"time";"github.com/stratahq/strata/services/prediction/cdnow";"github.com/stratahq/strata/services/prediction/features";"github.com/stratahq/strata/services/prediction/learn";"github.com/stratahq/strata/services/prediction/metrics")
func TestExp(t *testing.T){
 txs,_:=cdnow.ReadFile("/work/shared/datasets/cdnow/CDNOW_sample.txt")
 st:=features.Replay(cdnow.Events(txs))
 cut:=time.Date(1997,10,1,0,0,0,0,time.UTC)
 ts:=features.BuildTrainingSet(st,cut,features.PurchaseWithin(0))
 var pos float64; for _,v:=range ts.Y{pos+=v}
 t.Log(len(ts.Y),pos)
 ctx:=context.Background()
 folds:=learn.StratifiedFolds(ts.Y,5,42)
 tr:=map[string]learn.Trainer{
  "gbt":func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitGBT(ctx,X,y,learn.GBTConfig{Seed:42})},
  "rf":func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitForest(ctx,X,y,learn.ForestConfig{Seed:42,MinLeaf:20,Trees:300})},
  "rf1":func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitForest(ctx,X,y,learn.ForestConfig{Seed:42,Trees:100})},
  "lr":func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitLogistic(ctx,X,y,learn.LogisticConfig{})},
 }
 for name,f:=range tr{ s:=time.Now(); oof,err:=learn.CrossValPredictFolds(ctx,f,ts.X,ts.Y,folds,5); if err!=nil{t.Fatal(err)}; r,_:=metrics.Evaluate(oof,ts.Y); t.Log(name,r,time.Since(s))}
}
