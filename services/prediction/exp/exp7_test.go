package exp
import ("context";"fmt";"os";"strings";"strconv";"testing";"time";"github.com/stratahq/strata/services/prediction/cdnow";"github.com/stratahq/strata/services/prediction/features";"github.com/stratahq/strata/services/prediction/learn";"github.com/stratahq/strata/services/prediction/metrics")
func TestExp7(t *testing.T){
 txs,_:=cdnow.ReadFile("/work/shared/datasets/cdnow/CDNOW_sample.txt")
 st:=features.Replay(cdnow.Events(txs))
 cut:=time.Date(1997,10,1,0,0,0,0,time.UTC)
 end:=time.Date(1998,7,1,0,0,0,0,time.UTC)
 H:=end.Sub(cut)
 ts:=features.BuildTrainingSet(st,cut,features.PurchaseWithin(0))
 var extra []features.TrainingSet
 for _,k:=range []int{1,2,3}{ c:=cut.AddDate(0,-k,0); extra=append(extra,features.BuildTrainingSet(st,c,features.PurchaseWithin(H)))}
 ctx:=context.Background()
 b,_:=os.ReadFile("/tmp/skfolds.csv"); fm:=map[string]int{}
 for _,l:=range strings.Split(string(b),"\n")[1:]{ p:=strings.Split(l,","); if len(p)<3{continue}; k,_:=strconv.Atoi(p[1]); fm[p[0]]=k}
 f1:=make([]int,len(ts.Users)); for i,u:=range ts.Users{ f1[i]=fm[u]}
 f2:=learn.StratifiedFolds(ts.Y,5,42)
 f3:=learn.StratifiedFolds(ts.Y,5,7)
 run:=func(name string, nextra int, f learn.Trainer){ s:=name; var tot float64; for _,fo:=range [][]int{f1,f2,f3}{
   foldOf:=map[string]int{}; for i,u:=range ts.Users{foldOf[u]=fo[i]}
   oof:=make([]float64,len(ts.Y))
   for k:=range 5{ var X [][]float64; var y []float64
     for i,u:=range ts.Users{ if foldOf[u]!=k{X=append(X,ts.X[i]);y=append(y,ts.Y[i])}}
     for _,e:=range extra[:nextra]{ for i,u:=range e.Users{ if foldOf[u]!=k{X=append(X,e.X[i]);y=append(y,e.Y[i])}}}
     m,err:=f(ctx,X,y); if err!=nil{t.Fatal(err)}
     for i:=range ts.Users{ if fo[i]==k{oof[i]=m.Predict(ts.X[i])}}
   }
   r,_:=metrics.AUC(oof,ts.Y); s+=fmt.Sprintf(" %.4f",r); tot+=r}; t.Log(s, fmt.Sprintf("mean %.4f",tot/3))}
 for _,ne:=range []int{0,1,3}{
 run(fmt.Sprint("gbt d2 ",ne),ne,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitGBT(ctx,X,y,learn.GBTConfig{MaxDepth:2,Trees:300,LearningRate:0.02,MinLeaf:80,Seed:42})})
 run(fmt.Sprint("gbt d3 ",ne),ne,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitGBT(ctx,X,y,learn.GBTConfig{MaxDepth:3,Trees:300,LearningRate:0.03,MinLeaf:50,Seed:42})})
 run(fmt.Sprint("rf ",ne),ne,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitForest(ctx,X,y,learn.ForestConfig{MinLeaf:60,Trees:200,Seed:42})})
 }
}
